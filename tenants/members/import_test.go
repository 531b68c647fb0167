package members_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"jifen/pkg/clock"
	"jifen/platform/audit"
	"jifen/platform/http/routertest"
	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/members"
)

func TestMain(m *testing.M) { storagetest.Main(m) }

type importEnv struct {
	env *routertest.Env
	db  *storage.DB
	tid string
}

func newImportEnv(t *testing.T, db *storage.DB) importEnv {
	t.Helper()
	env := routertest.New(t, db)
	svc := &members.Service{
		Store: &members.Store{DB: db},
		Clock: clock.NewFake(time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)),
		Audit: &audit.Log{DB: db},
	}
	members.Routes(env.Tenant, env.Can, svc)
	return importEnv{env: env, db: db, tid: routertest.CreateTenant(t, db, routertest.TenantOptions{})}
}

func (e importEnv) importCSV(t *testing.T, tid, role, body string) (*routertest.Response, members.ImportResult) {
	t.Helper()
	r := e.env.Do(t, http.MethodPost, "/api/v1/tenants/"+tid+"/members/import", role, body, "Content-Type", "text/csv; charset=utf-8")
	var res members.ImportResult
	if r.Status == http.StatusOK {
		r.JSON(t, &res)
	}
	return r, res
}

func (e importEnv) member(t *testing.T, tid, ext string) members.Member {
	t.Helper()
	ctx := routertest.TenantContext(t, e.db, tid)
	m, err := (&members.Store{DB: e.db}).FindMemberByExternalID(ctx, ext)
	if err != nil {
		t.Fatalf("find member %s: %v", ext, err)
	}
	return m
}

// The file below has a byte-order mark, a quoted name holding a comma and
// a line break (so the rows after it start one line later), and one bad
// row of each kind.
const importFile = "\ufeffexternal_id,name,phone,birthday\n" +
	"u1,张三,13812345678,1990-05-01\n" + // line 2
	"u2,\"Li, \nSi\",,\n" + // lines 3-4
	"u3,王五,12345,1990-02-30\n" + // line 5: bad phone and birthday
	"u4,赵六\n" + // line 6: too few fields
	",无名,,\n" + // line 7: no external_id
	"u5,Qian,+8613912345678,2001-12-31\n" + // line 8
	"u6,\"bad \"quote\",,\n" + // line 9: not CSV
	"u7,Sun,,2030-01-01\n" // line 10: birthday in the future

var importFileErrors = []members.ImportError{
	{Line: 5, Field: "birthday", Message: "must be a date as YYYY-MM-DD"},
	{Line: 5, Field: "phone", Message: "must be an 11-digit mainland mobile number or an E.164 number such as +8613812345678"},
	{Line: 6, Field: "", Message: "the row has 2 fields; the header has 4"},
	{Line: 7, Field: "external_id", Message: "is required: 1 to 128 printable ASCII characters without spaces"},
	{Line: 9, Field: "", Message: "the row is not valid CSV: extraneous or missing \" in quoted-field"},
	{Line: 10, Field: "birthday", Message: "must not be in the future"},
}

func TestImportMembers(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		e := newImportEnv(t, db)

		t.Run("first import creates the good rows and reports each bad line", func(t *testing.T) {
			r, res := e.importCSV(t, e.tid, "operator", importFile)
			if r.Status != http.StatusOK {
				t.Fatalf("got status %d (%s), want 200", r.Status, r.Body)
			}
			got := [4]int{res.Created, res.Updated, res.Unchanged, res.Failed}
			if want := [4]int{3, 0, 0, 5}; got != want {
				t.Errorf("got created/updated/unchanged/failed %v, want %v", got, want)
			}
			if !reflect.DeepEqual(res.Errors, importFileErrors) {
				t.Errorf("got errors %+v, want %+v", res.Errors, importFileErrors)
			}
			if m := e.member(t, e.tid, "u2"); m.Name != "Li, \nSi" || m.Phone != "" {
				t.Errorf("got u2 name %q phone %q, want \"Li, \\nSi\" and no phone", m.Name, m.Phone)
			}
		})

		t.Run("importing the same file again changes nothing", func(t *testing.T) {
			before := e.member(t, e.tid, "u1")
			_, res := e.importCSV(t, e.tid, "operator", importFile)
			got := [4]int{res.Created, res.Updated, res.Unchanged, res.Failed}
			if want := [4]int{0, 0, 3, 5}; got != want {
				t.Errorf("got created/updated/unchanged/failed %v, want %v", got, want)
			}
			if !reflect.DeepEqual(res.Errors, importFileErrors) {
				t.Errorf("got errors %+v, want %+v", res.Errors, importFileErrors)
			}
			if after := e.member(t, e.tid, "u1"); !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Errorf("got updated_at %v after re-import, want unchanged %v", after.UpdatedAt, before.UpdatedAt)
			}
		})

		t.Run("a changed row updates the member; empty cells keep values", func(t *testing.T) {
			_, res := e.importCSV(t, e.tid, "operator", "phone,external_id,name\n,u1,张三丰\n13800000000,u5,\n")
			if got, want := [4]int{res.Created, res.Updated, res.Unchanged, res.Failed}, [4]int{0, 2, 0, 0}; got != want {
				t.Fatalf("got created/updated/unchanged/failed %v (%+v), want %v", got, res.Errors, want)
			}
			u1 := e.member(t, e.tid, "u1")
			if u1.Name != "张三丰" || u1.Phone != "13812345678" || u1.Birthday != "1990-05-01" {
				t.Errorf("got u1 %q %q %q, want 张三丰 13812345678 1990-05-01", u1.Name, u1.Phone, u1.Birthday)
			}
			if u5 := e.member(t, e.tid, "u5"); u5.Name != "Qian" || u5.Phone != "13800000000" {
				t.Errorf("got u5 %q %q, want Qian 13800000000", u5.Name, u5.Phone)
			}
		})

		t.Run("another tenant's members are apart", func(t *testing.T) {
			other := routertest.CreateTenant(t, db, routertest.TenantOptions{})
			_, res := e.importCSV(t, other, "operator", "external_id,name\nu1,Other\n")
			if res.Created != 1 {
				t.Errorf("got created %d in another tenant, want 1", res.Created)
			}
			if m := e.member(t, e.tid, "u1"); m.Name != "张三丰" {
				t.Errorf("got name %q in the first tenant, want 张三丰", m.Name)
			}
		})

		t.Run("a file larger than one batch", func(t *testing.T) {
			tid := routertest.CreateTenant(t, db, routertest.TenantOptions{})
			var b strings.Builder
			b.WriteString("external_id,name,phone\n")
			const n = 1203
			for i := range n {
				fmt.Fprintf(&b, "big%05d,Member %d,139%08d\n", i, i, i)
			}
			b.WriteString("big00007,Member 7,bad\n")
			_, res := e.importCSV(t, tid, "operator", b.String())
			if res.Created != n || res.Failed != 1 || len(res.Errors) != 1 || res.Errors[0].Line != n+2 {
				t.Fatalf("got created %d failed %d errors %+v, want %d created and line %d failed", res.Created, res.Failed, res.Errors, n, n+2)
			}
			_, res = e.importCSV(t, tid, "operator", b.String())
			if res.Created != 0 || res.Unchanged != n {
				t.Errorf("got created %d unchanged %d on re-import, want 0 and %d", res.Created, res.Unchanged, n)
			}
		})

		t.Run("refused requests change nothing", func(t *testing.T) {
			tests := []struct {
				name, role, contentType, body string
				status                        int
				code                          string
			}{
				{"json body", "operator", "application/json", `{"external_id":"x1"}`, 415, "unsupported_media_type"},
				{"unknown column", "operator", "text/csv", "external_id,email\nx1,a@b.c\n", 422, "validation_failed"},
				{"no external_id column", "operator", "text/csv", "name\nX\n", 422, "validation_failed"},
				{"empty file", "operator", "text/csv", "", 422, "validation_failed"},
				{"viewer", "viewer", "text/csv", "external_id\nx1\n", 403, "forbidden"},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					r := e.env.Do(t, http.MethodPost, "/api/v1/tenants/"+e.tid+"/members/import", tc.role, tc.body, "Content-Type", tc.contentType)
					if r.Status != tc.status || r.ErrorCode() != tc.code {
						t.Fatalf("got %d %s (%s), want %d %s", r.Status, r.ErrorCode(), r.Body, tc.status, tc.code)
					}
					ctx := routertest.TenantContext(t, db, e.tid)
					if _, err := (&members.Store{DB: db}).FindMemberByExternalID(ctx, "x1"); err == nil {
						t.Errorf("got member x1 created, want nothing")
					}
				})
			}
		})

		t.Run("one audit record per batch that changed something", func(t *testing.T) {
			ctx := routertest.TenantContext(t, db, e.tid)
			items, _, err := (&audit.Log{DB: db}).List(ctx, audit.Filter{Action: "member.import", Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			// The first import and the update changed members; the re-import did not.
			if len(items) != 2 {
				t.Errorf("got %d import audit records, want 2", len(items))
			}
		})
	})
}

func TestOpenAPIImportDescribesTheRoute(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(members.OpenAPIImport, &doc); err != nil {
		t.Fatalf("openapi_import.json: %v", err)
	}
	if _, ok := doc.Paths["/api/v1/tenants/{tid}/members/import"]["post"]; !ok {
		t.Errorf("got paths %v, want POST /api/v1/tenants/{tid}/members/import", doc.Paths)
	}
}
