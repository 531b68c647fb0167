// Package members holds a tenant's members: who they are, how to find them,
// and the member object the API returns, which gathers points from the
// ledger and the tier from the tier ladder through small interfaces.
package members

import (
	"context"
	"time"
)

// Member is a member of a tenant's programme.
type Member struct {
	TenantID   string     `json:"-" gorm:"column:tenant_id"`
	ID         string     `json:"id" gorm:"column:id"`
	ExternalID string     `json:"external_id" gorm:"column:external_id"`
	Name       string     `json:"name" gorm:"column:name"`
	Phone      string     `json:"phone" gorm:"column:phone"`
	Birthday   string     `json:"birthday" gorm:"column:birthday"`
	ErasedAt   *time.Time `json:"erased_at,omitempty" gorm:"column:erased_at"`
	CreatedAt  time.Time  `json:"created_at" gorm:"column:created_at"`
	UpdatedAt  time.Time  `json:"updated_at" gorm:"column:updated_at"`

	// Filled from the ledger and the tier ladder when a member is returned.
	Tier         *TierRef   `json:"tier" gorm:"-"`
	TierProgress any        `json:"tier_progress,omitempty" gorm:"-"`
	Growth       int64      `json:"growth" gorm:"-"`
	Points       PointsView `json:"points" gorm:"-"`
}

// TableName is the members table.
func (Member) TableName() string { return "members" }

// PointsView is a member's points as the API shows them.
type PointsView struct {
	Available      int64      `json:"available"`
	Pending        int64      `json:"pending"`
	LifetimeEarned int64      `json:"lifetime_earned"`
	Expiring       []Expiring `json:"expiring"`
}

// Expiring is an amount of points that lapse at one time.
type Expiring struct {
	Points    int64     `json:"points"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Standing is what the ledger knows of a member.
type Standing struct {
	Points PointsView
	Growth int64
}

// TierRef names a tier.
type TierRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// TierStanding is what the tier ladder knows of a member.
type TierStanding struct {
	Tier     *TierRef
	Progress any
}

// PointsReader gives the ledger's view of members of the context's tenant.
type PointsReader interface {
	// MemberStandings returns the standing of each member id; ids without
	// ledger activity are absent from the map.
	MemberStandings(ctx context.Context, memberIDs []string) (map[string]Standing, error)
}

// TierReader gives the tier ladder's view of members of the context's tenant.
type TierReader interface {
	// MemberTiers returns the tier standing of each member id. A member on
	// no tier may be absent, or present with a nil Tier and the progress
	// towards the first one.
	MemberTiers(ctx context.Context, memberIDs []string) (map[string]TierStanding, error)
}
