package members

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/audit"
)

// Service holds the rules for members.
type Service struct {
	Store  *Store
	Clock  platform.Clock
	Audit  *audit.Log
	Points PointsReader // may be nil
	Tiers  TierReader   // may be nil
}

// Input is what a client sends to create or change a member. Nil fields are
// left as they are on update.
type Input struct {
	ExternalID *string `json:"external_id"`
	Name       *string `json:"name"`
	Phone      *string `json:"phone"`
	Birthday   *string `json:"birthday"`
}

var (
	externalIDPattern = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
	// A mainland mobile number (11 digits starting 1[3-9]) or E.164.
	phonePattern = regexp.MustCompile(`^(1[3-9][0-9]{9}|\+[1-9][0-9]{6,14})$`)
)

func conflictExternalID(ext string) error {
	return (&platform.Error{Code: platform.EConflict, Message: "A member with this external_id already exists in the tenant."}).
		WithDetails(map[string]any{"external_id": ext})
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return strings.TrimSpace(*p)
}

// validate checks the fields present in in; creating requires external_id.
func (s *Service) validate(in Input, creating bool) error {
	fe := platform.FieldErrors{}
	if creating || in.ExternalID != nil {
		if !externalIDPattern.MatchString(str(in.ExternalID)) {
			fe.Add("external_id", "is required: 1 to 128 printable ASCII characters without spaces")
		}
	}
	if in.Name != nil && utf8.RuneCountInString(str(in.Name)) > 100 {
		fe.Add("name", "must be at most 100 characters")
	}
	if in.Phone != nil && str(in.Phone) != "" && !phonePattern.MatchString(str(in.Phone)) {
		fe.Add("phone", "must be an 11-digit mainland mobile number or an E.164 number such as +8613812345678")
	}
	if in.Birthday != nil && str(in.Birthday) != "" {
		if msg := checkBirthday(str(in.Birthday), s.Clock.Now()); msg != "" {
			fe.Add("birthday", msg)
		}
	}
	return fe.Err()
}

func checkBirthday(b string, now time.Time) string {
	d, err := time.Parse("2006-01-02", b)
	if err != nil {
		return "must be a date as YYYY-MM-DD"
	}
	if d.After(now) {
		return "must not be in the future"
	}
	if d.Year() < 1900 {
		return "must be after 1900"
	}
	return ""
}

// CreateMember validates in and adds a member to the tenant; conflict when
// the external id is taken.
func (s *Service) CreateMember(ctx context.Context, in Input) (Member, error) {
	if err := s.validate(in, true); err != nil {
		return Member{}, err
	}
	now := s.Clock.Now()
	m := Member{
		TenantID: platform.TenantID(ctx), ID: ids.NewAt(now), ExternalID: str(in.ExternalID),
		Name: str(in.Name), Phone: str(in.Phone), Birthday: str(in.Birthday), CreatedAt: now, UpdatedAt: now,
	}
	if err := s.Store.CreateMember(ctx, &m); err != nil {
		return Member{}, err
	}
	return s.enrichOne(ctx, m)
}

// GetMember returns the member with its points and tier; not_found when it
// is not in the tenant.
func (s *Service) GetMember(ctx context.Context, id string) (Member, error) {
	m, err := s.Store.FindMemberByID(ctx, id)
	if err != nil {
		return Member{}, err
	}
	return s.enrichOne(ctx, m)
}

// FindMembers lists members with their points and tiers.
func (s *Service) FindMembers(ctx context.Context, f Filter) ([]Member, string, error) {
	if f.Phone != "" && !phonePattern.MatchString(f.Phone) {
		return nil, "", platform.FieldErrors{"phone": "must be an 11-digit mainland mobile number or an E.164 number"}.Err()
	}
	out, next, err := s.Store.FindMembers(ctx, f)
	if err != nil {
		return nil, "", err
	}
	if err := s.enrich(ctx, out); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// UpdateMember changes the fields present in in. The external id can't
// change; an erased member can't be edited.
func (s *Service) UpdateMember(ctx context.Context, id string, in Input) (Member, error) {
	if in.ExternalID != nil {
		return Member{}, platform.FieldErrors{"external_id": "can't be changed"}.Err()
	}
	if err := s.validate(in, false); err != nil {
		return Member{}, err
	}
	var out Member
	err := s.Store.DB.Tx(ctx, func(ctx context.Context) error {
		m, err := s.Store.LockMember(ctx, id)
		if err != nil {
			return err
		}
		if m.ErasedAt != nil {
			return platform.Errorf(platform.EConflict, "This member's personal data was erased; it can't be edited.")
		}
		if in.Name != nil {
			m.Name = str(in.Name)
		}
		if in.Phone != nil {
			m.Phone = str(in.Phone)
		}
		if in.Birthday != nil {
			m.Birthday = str(in.Birthday)
		}
		m.UpdatedAt = s.Clock.Now()
		if err := s.Store.UpdateMember(ctx, &m); err != nil {
			return err
		}
		out = m
		return nil
	})
	if err != nil {
		return Member{}, err
	}
	return s.enrichOne(ctx, out)
}

// EraseMember clears the member's personal data (name, phone, birthday) on
// request; the ledger and the external id stay so the books still add up.
// Erasing twice changes nothing more.
func (s *Service) EraseMember(ctx context.Context, id string) (Member, error) {
	var out Member
	err := s.Store.DB.Tx(ctx, func(ctx context.Context) error {
		m, err := s.Store.LockMember(ctx, id)
		if err != nil {
			return err
		}
		out = m
		if m.ErasedAt != nil {
			return nil
		}
		now := s.Clock.Now()
		m.Name, m.Phone, m.Birthday, m.UpdatedAt, m.ErasedAt = "", "", "", now, &now
		if err := s.Store.UpdateMember(ctx, &m); err != nil {
			return err
		}
		out = m
		if s.Audit != nil {
			return s.Audit.Record(ctx, "member.erase", "member", m.ID, nil)
		}
		return nil
	})
	if err != nil {
		return Member{}, err
	}
	return s.enrichOne(ctx, out)
}

func (s *Service) enrichOne(ctx context.Context, m Member) (Member, error) {
	list := []Member{m}
	if err := s.enrich(ctx, list); err != nil {
		return Member{}, err
	}
	return list[0], nil
}

// enrich fills points, growth and tier for a page of members with one call
// to each reader.
func (s *Service) enrich(ctx context.Context, list []Member) error {
	idList := make([]string, len(list))
	for i, m := range list {
		idList[i] = m.ID
		list[i].Points.Expiring = []Expiring{}
	}
	if len(list) == 0 {
		return nil
	}
	if s.Points != nil {
		st, err := s.Points.MemberStandings(ctx, idList)
		if err != nil {
			return err
		}
		for i := range list {
			if v, ok := st[list[i].ID]; ok {
				list[i].Points, list[i].Growth = v.Points, v.Growth
				if list[i].Points.Expiring == nil {
					list[i].Points.Expiring = []Expiring{}
				}
			}
		}
	}
	if s.Tiers != nil {
		ts, err := s.Tiers.MemberTiers(ctx, idList)
		if err != nil {
			return err
		}
		for i := range list {
			if v, ok := ts[list[i].ID]; ok {
				list[i].Tier, list[i].TierProgress = v.Tier, v.Progress
			}
		}
	}
	return nil
}
