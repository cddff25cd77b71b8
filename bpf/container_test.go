package bpf

import (
	"os"
	"path/filepath"
	"testing"
)

func TestContainerID(t *testing.T) {
	id := "3f1c0e9b4a5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"
	cases := []struct{ name, path, want string }{
		{"host", "/user.slice/user-1000.slice/session-2.scope", ""},
		{"root", "/", ""},
		{"docker systemd", "/system.slice/docker-" + id + ".scope", id},
		{"docker cgroupfs", "/docker/" + id, id},
		{"containerd k8s", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-" + id + ".scope", id},
		{"crio", "/kubepods.slice/kubepods-pod1.slice/crio-" + id + ".scope", id},
		{"podman", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id + ".scope/container", id},
		{"kubepods cgroupfs", "/kubepods/besteffort/pod1/" + id, id},
		{"too short", "/docker/3f1c0e9b4a5d", ""},
	}
	for _, tc := range cases {
		if got := containerID(tc.path); got != tc.want {
			t.Errorf("%s: containerID(%q) = %q, want %q", tc.name, tc.path, got, tc.want)
		}
	}
}

func TestContainerCache(t *testing.T) {
	dir := t.TempDir()
	id := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	os.MkdirAll(filepath.Join(dir, "12"), 0o755)
	os.WriteFile(filepath.Join(dir, "12", "cgroup"), []byte("12:memory:/x\n0::/system.slice/docker-"+id+".scope\n"), 0o644)
	c := newContainerCache(dir, 2)
	if got := c.lookup(5, 12); got != id {
		t.Errorf("lookup = %q", got)
	}
	os.RemoveAll(filepath.Join(dir, "12"))
	if got := c.lookup(5, 12); got != id {
		t.Errorf("cached lookup = %q", got)
	}
	if got := c.lookup(6, 13); got != "" {
		t.Errorf("missing process: %q", got)
	}
	c.lookup(7, 12)
	c.lookup(8, 12)
	if len(c.ids) > 2 {
		t.Errorf("cache grew to %d", len(c.ids))
	}
}
