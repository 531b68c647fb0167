// Package rbac is jifen's authorisation: casbin's RBAC-with-domains model in
// which each tenant is a domain, policies stored in casbin_rule through
// casbin's GORM adapter, and a policy version row that tells every replica
// when to reload.
package rbac

import "jifen/platform"

// PlatformAdmin is the role of platform administrators, held in the
// "platform" domain.
const PlatformAdmin = "platform_admin"

// Permission is an action on a kind of object.
type Permission struct {
	Obj, Act string
}

// minRole says the least powerful tenant role that holds each permission.
// Every more powerful role holds it too. Objects and actions are named in
// routes through Guard.Can.
var minRole = map[Permission]string{
	{"settings", "read"}:     platform.RoleViewer,
	{"settings", "write"}:    platform.RoleManager,
	{"staff", "read"}:        platform.RoleOwner,
	{"staff", "write"}:       platform.RoleOwner,
	{"api_keys", "read"}:     platform.RoleOwner,
	{"api_keys", "write"}:    platform.RoleOwner,
	{"audit", "read"}:        platform.RoleManager,
	{"members", "read"}:      platform.RoleViewer,
	{"members", "write"}:     platform.RoleOperator,
	{"members", "erase"}:     platform.RoleManager,
	{"points", "read"}:       platform.RoleViewer,
	{"points", "spend"}:      platform.RoleOperator,
	{"points", "adjust"}:     platform.RoleManager,
	{"events", "read"}:       platform.RoleViewer,
	{"events", "write"}:      platform.RoleOperator,
	{"rules", "read"}:        platform.RoleViewer,
	{"rules", "write"}:       platform.RoleManager,
	{"tiers", "read"}:        platform.RoleViewer,
	{"tiers", "write"}:       platform.RoleManager,
	{"mall", "read"}:         platform.RoleViewer,
	{"mall", "write"}:        platform.RoleManager,
	{"redemptions", "read"}:  platform.RoleViewer,
	{"redemptions", "write"}: platform.RoleOperator,
	{"coupons", "read"}:      platform.RoleViewer,
	{"coupons", "write"}:     platform.RoleManager,
	{"coupons", "verify"}:    platform.RoleOperator,
	{"billing", "read"}:      platform.RoleOwner,
}

// platformPerms are the platform admin's permissions.
var platformPerms = []Permission{
	{"tenants", "read"}, {"tenants", "write"}, {"admins", "write"},
	{"jobs", "read"}, {"jobs", "write"},
}

func rank(role string) int {
	for i, r := range platform.Roles {
		if r == role {
			return i
		}
	}
	return -1
}

// RoleAllows reports whether a tenant role holds a permission by the policy
// table, the source of the policies written to casbin.
func RoleAllows(role, obj, act string) bool {
	min, ok := minRole[Permission{obj, act}]
	if !ok {
		return false
	}
	r := rank(role)
	return r >= 0 && r <= rank(min)
}

// policyLines returns the casbin "p" lines for the policy table.
func policyLines() [][]string {
	var out [][]string
	for perm := range minRole {
		for _, role := range platform.Roles {
			if RoleAllows(role, perm.Obj, perm.Act) {
				out = append(out, []string{role, "*", perm.Obj, perm.Act})
			}
		}
	}
	for _, perm := range platformPerms {
		out = append(out, []string{PlatformAdmin, "platform", perm.Obj, perm.Act})
	}
	return out
}
