package ledger_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"jifen/tenants/ledger"
)

// TestOpenAPIDescribesEveryRoute checks the fragment against the routes
// Routes mounts, and that every schema it refers to is defined (in the
// fragment, or the base document's Error and Page).
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(ledger.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	gin.SetMode(gin.TestMode)
	e := gin.New()
	pass := func(c *gin.Context) {}
	ledger.Routes(e.Group("/api/v1/tenants/:tid"), func(string, string) gin.HandlerFunc { return pass }, &ledger.Service{}, pass)
	param := regexp.MustCompile(`:([a-z]+)`)
	routes := e.Routes()
	for _, r := range routes {
		p := param.ReplaceAllString(r.Path, "{$1}")
		if _, ok := doc.Paths[p][strings.ToLower(r.Method)]; !ok {
			t.Errorf("%s %s is not in openapi.json", r.Method, p)
		}
	}
	described := 0
	for _, ops := range doc.Paths {
		described += len(ops)
	}
	if described != len(routes) {
		t.Errorf("openapi.json describes %d operations, want the %d routes", described, len(routes))
	}
	refs := regexp.MustCompile(`"#/components/schemas/([A-Za-z]+)"`).FindAllStringSubmatch(string(ledger.OpenAPI), -1)
	for _, m := range refs {
		if _, ok := doc.Components.Schemas[m[1]]; !ok && m[1] != "Error" && m[1] != "Page" {
			t.Errorf("schema %s is referred to but not defined", m[1])
		}
	}
}
