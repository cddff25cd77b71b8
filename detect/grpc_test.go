package detect

import (
	"fmt"
	"testing"

	"github.com/shadowtap/shadowtap/reassembly"
)

// grpcTx is a unary gRPC call answered with grpc-status code.
func grpcTx(i int, path string, code int) *reassembly.Transaction {
	t := tx(i, "POST", "grpc.example.com", path, 200)
	t.Protocol = reassembly.ProtoGRPC
	t.GRPC = &reassembly.GRPC{Status: code, ReqMessages: 1, RespMessages: 1}
	return t
}

// TestGRPCMethodsStayWords checks that a service's many methods are
// operations, not objects: 40 methods under one service (more than the
// siblings that teach an HTTP position to be a parameter) stay literal.
func TestGRPCMethodsStayWords(t *testing.T) {
	e := mustEngine(t, Options{})
	const methods = 40
	for round := 0; round < 5; round++ {
		for m := 0; m < methods; m++ {
			e.Observe(grpcTx(round*methods+m, fmt.Sprintf("/shop.v1.Catalog/Method%02d", m), 0))
		}
	}
	got := templates(e.Report(), "grpc.example.com")
	if len(got) != methods {
		t.Fatalf("%d templates, want %d literal methods: %v", len(got), methods, got)
	}
	if got[0] != "POST /shop.v1.Catalog/Method00" {
		t.Fatalf("first template %q, want the literal method", got[0])
	}
}

// TestGRPCOutcome checks that grpc-status, not the HTTP status (200 for
// nearly every gRPC call), is the outcome the inventory counts.
func TestGRPCOutcome(t *testing.T) {
	e := mustEngine(t, Options{})
	e.Observe(grpcTx(1, "/auth.v1.Login/Check", 0))
	e.Observe(grpcTx(2, "/auth.v1.Login/Check", 16)) // UNAUTHENTICATED
	e.Observe(grpcTx(3, "/auth.v1.Login/Check", 5))  // NOT_FOUND
	e.Observe(grpcTx(4, "/auth.v1.Login/Check", 99)) // unknown code
	noStatus := grpcTx(5, "/auth.v1.Login/Check", -1)
	noStatus.Status = 200
	e.Observe(noStatus)
	rep := e.Report()
	if len(rep.Endpoints) != 1 {
		t.Fatalf("endpoints %+v, want one", rep.Endpoints)
	}
	want := map[string]int{"200": 2, "401": 1, "404": 1, "500": 1}
	got := rep.Endpoints[0].Statuses
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
}
