package synth

import (
	"strconv"
	"strings"
)

// documentedYAML renders the OpenAPI 3 document of the documented
// operations (the shadow ones left out), paths relative to the server URL.
func (s *sim) documentedYAML() []byte {
	if s.spec != nil {
		return s.spec.documented
	}
	var b strings.Builder
	b.WriteString("openapi: 3.0.3\ninfo:\n  title: ShopWise API\n  version: 2.14.0\n  description: Example shop API simulated by shadowtap; some operations in use are missing on purpose.\n")
	b.WriteString("servers:\n  - url: http://" + s.host + basePath + "\n")
	b.WriteString("security:\n  - bearerAuth: []\n  - cookieAuth: []\n  - apiKeyHeader: []\n  - apiKeyQuery: []\n")
	b.WriteString("paths:\n")
	var paths []string
	byPath := map[string][]*operation{}
	for _, op := range s.ops {
		if !op.documented {
			continue
		}
		p := strings.TrimPrefix(op.path, basePath)
		if _, ok := byPath[p]; !ok {
			paths = append(paths, p)
		}
		byPath[p] = append(byPath[p], op)
	}
	for _, p := range paths {
		b.WriteString("  " + p + ":\n")
		for _, op := range byPath[p] {
			b.WriteString("    " + strings.ToLower(op.method) + ":\n")
			b.WriteString("      operationId: " + opID(op) + "\n")
			b.WriteString("      summary: " + strconv.Quote(op.summary) + "\n")
			switch op.security {
			case "none":
				b.WriteString("      security: []\n")
			case "any":
				b.WriteString("      security:\n        - {}\n        - bearerAuth: []\n        - cookieAuth: []\n        - apiKeyHeader: []\n        - apiKeyQuery: []\n")
			case "service":
				b.WriteString("      security:\n        - apiKeyHeader: []\n")
			}
			if len(op.params) > 0 {
				b.WriteString("      parameters:\n")
				for _, pr := range op.params {
					b.WriteString("        - name: " + pr.name + "\n          in: " + pr.in + "\n")
					b.WriteString("          required: " + strconv.FormatBool(pr.required || pr.in == "path") + "\n")
					b.WriteString("          schema:\n            type: " + pr.typ + "\n")
					if pr.format != "" {
						b.WriteString("            format: " + pr.format + "\n")
					}
				}
			}
			if op.reqSchema != "" {
				b.WriteString("      requestBody:\n        required: true\n        content:\n          application/json:\n            schema:\n              $ref: '#/components/schemas/" + op.reqSchema + "'\n")
			}
			b.WriteString("      responses:\n")
			ok := "200"
			switch op.kind {
			case opCreateOrder:
				ok = "201"
			case opDeleteCustomer, opChangePassword:
				ok = "204"
			}
			b.WriteString("        '" + ok + "':\n          description: OK\n")
			if op.respSchema != "" && ok != "204" {
				b.WriteString("          content:\n            application/json:\n              schema:\n                $ref: '#/components/schemas/" + op.respSchema + "'\n")
			}
			if op.security != "none" && op.security != "any" {
				b.WriteString("        '401':\n          $ref: '#/components/responses/Error'\n")
			}
			b.WriteString("        '404':\n          $ref: '#/components/responses/Error'\n")
		}
	}
	b.WriteString(componentsYAML)
	return []byte(b.String())
}

func opID(op *operation) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(op.method))
	for _, seg := range strings.Split(strings.TrimPrefix(op.path, basePath), "/") {
		seg = strings.Trim(seg, "{}")
		if seg == "" {
			continue
		}
		b.WriteString(strings.ToUpper(seg[:1]) + seg[1:])
	}
	return b.String()
}

const componentsYAML = `components:
  securitySchemes:
    bearerAuth:
      type: http
      scheme: bearer
      bearerFormat: JWT
    cookieAuth:
      type: apiKey
      in: cookie
      name: session
    apiKeyHeader:
      type: apiKey
      in: header
      name: X-API-Key
    apiKeyQuery:
      type: apiKey
      in: query
      name: api_key
  responses:
    Error:
      description: Error
      content:
        application/json:
          schema:
            type: object
            properties:
              error: {type: string}
              request_id: {type: string}
  schemas:
    Address:
      type: object
      properties:
        street: {type: string}
        city: {type: string}
        postal_code: {type: string}
        country: {type: string}
    Customer:
      type: object
      properties:
        id: {type: integer, format: int64}
        name: {type: string}
        email: {type: string, format: email}
        phone: {type: string}
        birthdate: {type: string, format: date}
        address: {$ref: '#/components/schemas/Address'}
        tier: {type: string, enum: [standard, silver, gold]}
        created_at: {type: string, format: date-time}
    CustomerList:
      type: object
      properties:
        customers:
          type: array
          items: {$ref: '#/components/schemas/Customer'}
    CustomerUpdate:
      type: object
      properties:
        marketing_opt_in: {type: boolean}
        phone: {type: string}
    Login:
      type: object
      required: [email, password]
      properties:
        email: {type: string, format: email}
        password: {type: string, format: password}
    Token:
      type: object
      properties:
        access_token: {type: string}
        token_type: {type: string}
        expires_in: {type: integer}
    OrderItem:
      type: object
      properties:
        sku: {type: string}
        qty: {type: integer}
        unit_price: {type: number}
    Order:
      type: object
      properties:
        id: {type: integer, format: int64}
        customer_id: {type: integer, format: int64}
        status: {type: string}
        currency: {type: string}
        items:
          type: array
          items: {$ref: '#/components/schemas/OrderItem'}
        total: {type: number}
        card_last4: {type: string}
    OrderCreate:
      type: object
      properties:
        items:
          type: array
          items: {$ref: '#/components/schemas/OrderItem'}
        payment_method: {type: string}
    OrderList:
      type: object
      properties:
        page: {type: integer}
        page_size: {type: integer}
        orders:
          type: array
          items: {$ref: '#/components/schemas/Order'}
    Receipt:
      $ref: '#/components/schemas/Order'
    Product:
      type: object
      properties:
        sku: {type: string}
        name: {type: string}
        price: {type: number}
        stock: {type: integer}
        rating: {type: integer}
    SearchResult:
      type: object
      properties:
        query: {type: string}
        results:
          type: array
          items: {$ref: '#/components/schemas/Product'}
`
