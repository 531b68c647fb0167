package rbac

import "testing"

func TestRoleAllowsFollowsTheRoleOrder(t *testing.T) {
	cases := []struct {
		role, obj, act string
		want           bool
	}{
		{"viewer", "members", "read", true},
		{"viewer", "members", "write", false},
		{"operator", "members", "write", true},
		{"operator", "points", "adjust", false},
		{"manager", "points", "adjust", true},
		{"manager", "staff", "write", false},
		{"owner", "staff", "write", true},
		{"owner", "api_keys", "write", true},
		{"owner", "no_such", "thing", false},
		{"king", "members", "read", false},
	}
	for _, tc := range cases {
		if got := RoleAllows(tc.role, tc.obj, tc.act); got != tc.want {
			t.Errorf("RoleAllows(%s, %s, %s): got %v, want %v", tc.role, tc.obj, tc.act, got, tc.want)
		}
	}
	// Every permission a role holds, each more powerful role holds too.
	for perm := range minRole {
		for i := 1; i < 4; i++ {
			lower := []string{"owner", "manager", "operator", "viewer"}[i]
			higher := []string{"owner", "manager", "operator", "viewer"}[i-1]
			if RoleAllows(lower, perm.Obj, perm.Act) && !RoleAllows(higher, perm.Obj, perm.Act) {
				t.Errorf("%s may %s %s but %s may not", lower, perm.Act, perm.Obj, higher)
			}
		}
	}
}
