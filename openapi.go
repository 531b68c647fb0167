package main

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"jifen/platform/http/openapi"
	"jifen/platform/scheduler"
	"jifen/tenants/events"
	"jifen/tenants/ledger"
	"jifen/tenants/mall"
	"jifen/tenants/members"
	"jifen/tenants/rules"
	"jifen/tenants/tiers"
)

//go:embed openapi_base.json
var openAPIBase []byte

// openAPIFragments are the documents of the packages whose routes main
// mounts.
func openAPIFragments() [][]byte {
	return [][]byte{openapi.Platform, members.OpenAPI, members.OpenAPIImport, ledger.OpenAPI, rules.OpenAPI,
		events.OpenAPI, tiers.OpenAPI, mall.OpenAPI, scheduler.OpenAPI}
}

// openAPIDocument merges the base document and every package's fragment
// into the served OpenAPI document.
func openAPIDocument() ([]byte, error) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIBase, &doc); err != nil {
		return nil, fmt.Errorf("openapi base: %w", err)
	}
	paths := doc["paths"].(map[string]any)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for i, frag := range openAPIFragments() {
		var f struct {
			Paths      map[string]map[string]any `json:"paths"`
			Components struct {
				Schemas map[string]any `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(frag, &f); err != nil {
			return nil, fmt.Errorf("openapi fragment %d: %w", i, err)
		}
		for p, ops := range f.Paths {
			existing, _ := paths[p].(map[string]any)
			if existing == nil {
				existing = map[string]any{}
			}
			for m, op := range ops {
				if _, dup := existing[m]; dup {
					return nil, fmt.Errorf("openapi: %s %s is described twice", m, p)
				}
				existing[m] = op
			}
			paths[p] = existing
		}
		for name, s := range f.Components.Schemas {
			if _, dup := schemas[name]; dup {
				return nil, fmt.Errorf("openapi: schema %s is defined twice", name)
			}
			schemas[name] = s
		}
	}
	return json.Marshal(doc)
}
