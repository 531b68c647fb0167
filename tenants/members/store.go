package members

import (
	"context"

	"jifen/platform"
	"jifen/platform/storage"
)

// Store reads and writes members of the context's tenant.
type Store struct {
	DB *storage.DB
}

// lockedKey names, in the transaction's cache, a member whose row lock
// the transaction holds; the value is the member as locked.
type lockedKey struct{ tenantID, memberID string }

func lockedKeyOf(ctx context.Context, id string) lockedKey {
	return lockedKey{platform.TenantID(ctx), id}
}

// lockedMember returns the member when the context's transaction took its
// lock: nobody else can change the row before the commit, so it need not
// be read again.
func lockedMember(ctx context.Context, id string) (Member, bool) {
	v, ok := storage.TxCache(ctx).Get(lockedKeyOf(ctx, id))
	if !ok {
		return Member{}, false
	}
	return v.(Member), true
}

// FindMemberByID returns the member; not_found when it is not in the tenant.
// A member locked in the context's transaction is not read again.
func (s *Store) FindMemberByID(ctx context.Context, id string) (Member, error) {
	if m, ok := lockedMember(ctx, id); ok {
		return m, nil
	}
	var m Member
	err := s.DB.Scoped(ctx).Where("id = ?", id).Take(&m).Error
	return m, storage.Translate(err, "member")
}

// FindMemberByExternalID returns the member with the merchant's id;
// not_found when absent.
func (s *Store) FindMemberByExternalID(ctx context.Context, externalID string) (Member, error) {
	var m Member
	err := s.DB.Scoped(ctx).Where("external_id = ?", externalID).Take(&m).Error
	return m, storage.Translate(err, "member")
}

// LockMember takes the member's row lock inside the context's transaction
// (a no-op write on SQLite, whose writer is already exclusive) and returns
// the member; not_found when absent. Everything that changes a member's
// points or tier takes this lock first, so changes to one member queue.
// The lock is held until the transaction ends, so a second LockMember of
// the member in the same transaction returns the member without a query.
func (s *Store) LockMember(ctx context.Context, id string) (Member, error) {
	if m, ok := lockedMember(ctx, id); ok {
		return m, nil
	}
	var m Member
	err := s.DB.ForUpdate(s.DB.Scoped(ctx).Where("id = ?", id)).Take(&m).Error
	if err != nil {
		return m, storage.Translate(err, "member")
	}
	storage.TxCache(ctx).Set(lockedKeyOf(ctx, id), m)
	return m, nil
}

// Locked reports whether the context's transaction holds the member's lock
// (LockMember took it), so what the transaction reads of the member's
// other rows can't change before the commit.
func (s *Store) Locked(ctx context.Context, id string) bool {
	_, ok := lockedMember(ctx, id)
	return ok
}

// Filter narrows a member listing.
type Filter struct {
	ExternalID string
	Phone      string
	Limit      int
	Cursor     string
}

// FindMembers lists members by id (oldest first), one page at a time.
func (s *Store) FindMembers(ctx context.Context, f Filter) ([]Member, string, error) {
	q := s.DB.Scoped(ctx)
	if f.ExternalID != "" {
		q = q.Where("external_id = ?", f.ExternalID)
	}
	if f.Phone != "" {
		q = q.Where("phone = ?", f.Phone)
	}
	return storage.FindPage[Member](q, f.Limit, f.Cursor, false)
}

// CreateMember inserts m; conflict when the external id is taken.
func (s *Store) CreateMember(ctx context.Context, m *Member) error {
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		err := s.DB.Conn(ctx).Create(m).Error
		if storage.IsUniqueViolation(err) {
			return conflictExternalID(m.ExternalID)
		}
		return storage.Translate(err, "member")
	})
}

// UpdateMember writes the member's editable fields.
func (s *Store) UpdateMember(ctx context.Context, m *Member) error {
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		// The row changes: a later LockMember reads it again, without
		// waiting, since the update holds the row's lock.
		storage.TxCache(ctx).Delete(lockedKeyOf(ctx, m.ID))
		res := s.DB.Scoped(ctx).Model(&Member{}).Where("id = ?", m.ID).Updates(map[string]any{
			"name": m.Name, "phone": m.Phone, "birthday": m.Birthday, "updated_at": m.UpdatedAt, "erased_at": m.ErasedAt,
		})
		if res.Error != nil {
			return storage.Translate(res.Error, "member")
		}
		if res.RowsAffected == 0 {
			return storage.Translate(storage.ErrNotFound, "member")
		}
		return nil
	})
}

// FindMemberIDsByBirthday returns the ids of the tenant's members (not
// erased) whose birthday ends with one of the given "-MM-DD" suffixes.
func (s *Store) FindMemberIDsByBirthday(ctx context.Context, suffixes []string) ([]string, error) {
	q := s.DB.Scoped(ctx).Model(&Member{}).Where("erased_at IS NULL")
	cond := s.DB.Conn(ctx)
	for i, sfx := range suffixes {
		if i == 0 {
			cond = cond.Where("birthday LIKE ?", "%"+sfx)
		} else {
			cond = cond.Or("birthday LIKE ?", "%"+sfx)
		}
	}
	var out []string
	err := q.Where(cond).Order("id").Pluck("id", &out).Error
	return out, err
}
