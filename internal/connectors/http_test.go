package connectors

import "testing"

// crmSpec is the http connector of issue #4's example, with fields.
var crmSpec = Spec{
	Name:  "crm",
	Type:  TypeHTTP,
	Hosts: []string{"crm.internal.example"},
	Routes: []RouteSpec{
		{Method: "POST", Path: "/v1/customers/{id}/delete", Action: "crm.customer.delete"},
		{Method: "GET", Path: "/v1/customers/{id}", Action: "crm.customer.get", Query: []string{"expand"}},
		{Method: "GET", Path: "/v1/customers", Action: "crm.customer.list", Query: []string{"limit:number", "active:bool"}},
		{Method: "POST", Path: "/v1/customers", Action: "crm.customer.create", Body: []string{"tier", "address.country", "vip:bool"}},
		{Method: "PUT", Path: "/v1/invoices/{invoice_id:int}/amount", Action: "crm.invoice.update", Body: []string{"amount:number", "currency:string"}},
		{Method: "GET", Path: "/v1/docs/{doc_path...}", Action: "crm.doc.get"},
		{Method: "get", Path: "/", Action: "crm.root.get"},
	},
}

var httpGolden = []golden{
	{"deletes a customer", "POST", "/v1/customers/c_1/delete", "", "crm.customer.delete", P{"id": "c_1"}},
	{"gets a customer", "GET", "/v1/customers/c_1?expand=orders", "", "crm.customer.get", P{"id": "c_1", "expand": "orders"}},
	{"lists customers with typed query fields", "GET", "/v1/customers?limit=25&active=true", "", "crm.customer.list", P{"limit": 25.0, "active": true}},
	{"creates a customer with a nested field", "POST", "/v1/customers", `{"tier":"gold","address":{"country":"FR","city":"Lyon"},"vip":false}`, "crm.customer.create", P{"tier": "gold", "address_country": "FR", "vip": false}},
	{"updates an invoice amount", "PUT", "/v1/invoices/17/amount", `{"amount":12.5,"currency":"EUR"}`, "crm.invoice.update", P{"invoice_id": 17.0, "amount": 12.5, "currency": "EUR"}},
	{"captures a path tail", "GET", "/v1/docs/guides/setup.md", "", "crm.doc.get", P{"doc_path": "guides/setup.md"}},
	{"matches the root with a lower-case configured method", "GET", "/", "", "crm.root.get", nil},
	{"prefixes unknown with the connector name", "DELETE", "/v1/customers/c_1", "", "crm.unknown", P{"method": "DELETE", "path": "/v1/customers/c_1"}},
	{"does not match a route for another method", "GET", "/v1/customers/c_1/delete", "", "crm.unknown", P{"method": "GET", "path": "/v1/customers/c_1/delete"}},
}

func TestHTTPGolden(t *testing.T) {
	runGolden(t, crmSpec, "application/json", httpGolden)
}

func TestHTTPFormBody(t *testing.T) {
	runGolden(t, crmSpec, "application/x-www-form-urlencoded", []golden{
		{"reads a form body by content type", "POST", "/v1/customers", "tier=silver&address[country]=DE&vip=true", "crm.customer.create", P{"tier": "silver", "address_country": "DE", "vip": true}},
	})
}

func TestUserRoutesExtendBuiltins(t *testing.T) {
	spec := Spec{Name: "gh", Type: TypeGitHub, Routes: []RouteSpec{
		{Method: "GET", Path: "/repos/{owner}/{repo}/traffic/views", Action: "github.traffic.get"},
		{Method: "DELETE", Path: "/repos/{owner}/{repo}", Action: "github.repo.destroy"},
	}}
	runGolden(t, spec, "application/json", []golden{
		{"adds an endpoint to the GitHub table", "GET", "/repos/Octo/Hello/traffic/views", "", "github.traffic.get", gh()},
		{"tries user routes before the built-in table", "DELETE", "/repos/octo/hello", "", "github.repo.destroy", gh()},
		{"still falls back to the built-in table", "GET", "/repos/octo/hello", "", "github.repo.get", gh()},
	})
}
