package mall_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"jifen/tenants/mall"
)

// TestOpenAPIDescribesEveryRoute fails when a route Routes mounts is
// missing from the fragment, or the fragment names a schema it doesn't
// define (Page and Error come from the base document).
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		Paths      map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(mall.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	pass := func(string, string) gin.HandlerFunc { return func(*gin.Context) {} }
	mall.Routes(e.Group("/api/v1/tenants/:tid"), pass, &mall.Service{}, func(*gin.Context) {})
	param := regexp.MustCompile(`:[a-z]+`)
	for _, r := range e.Routes() {
		p := param.ReplaceAllStringFunc(r.Path, func(s string) string { return "{" + s[1:] + "}" })
		if _, ok := doc.Paths[p][strings.ToLower(r.Method)]; !ok {
			t.Errorf("%s %s: got no description, want one", r.Method, p)
		}
	}
	raw := string(mall.OpenAPI)
	for _, m := range regexp.MustCompile(`#/components/schemas/(\w+)`).FindAllStringSubmatch(raw, -1) {
		if _, ok := doc.Components.Schemas[m[1]]; !ok && m[1] != "Page" && m[1] != "Error" {
			t.Errorf("schema %s: referenced, but not defined", m[1])
		}
	}
}
