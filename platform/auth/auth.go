// Package auth is identity: staff users and their bcrypt password hashes,
// session tokens (opaque, stored hashed, expiring, revocable), tenant API
// keys (shown once, stored hashed, with a visible prefix), and login
// throttling against guessing, shared by the replicas through the database.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/mail"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"jifen/pkg/ids"
	"jifen/platform"
	"jifen/platform/audit"
	"jifen/platform/rbac"
	"jifen/platform/storage"
)

// Token prefixes tell session tokens from API keys at a glance (and let
// secret scanners find leaked keys).
const (
	sessionPrefix = "jfs_"
	apiKeyPrefix  = "jfk_"
	// SessionTTL is how long a session token lives.
	SessionTTL = 12 * time.Hour
	// MinPasswordLen is the shortest password accepted.
	MinPasswordLen = 10
	// DefaultPasswordCost is the bcrypt cost of stored passwords.
	DefaultPasswordCost = 11
)

// User is a person who signs in: platform admin or tenant staff.
type User struct {
	ID              string    `json:"id" gorm:"column:id"`
	Email           string    `json:"email" gorm:"column:email"`
	PasswordHash    string    `json:"-" gorm:"column:password_hash"`
	IsPlatformAdmin bool      `json:"is_platform_admin" gorm:"column:is_platform_admin"`
	CreatedAt       time.Time `json:"created_at" gorm:"column:created_at"`
	UpdatedAt       time.Time `json:"-" gorm:"column:updated_at"`
}

// TableName is the users table.
func (User) TableName() string { return "users" }

type session struct {
	ID        string     `gorm:"column:id"`
	TokenHash string     `gorm:"column:token_hash"`
	UserID    string     `gorm:"column:user_id"`
	CreatedAt time.Time  `gorm:"column:created_at"`
	ExpiresAt time.Time  `gorm:"column:expires_at"`
	RevokedAt *time.Time `gorm:"column:revoked_at"`
}

func (session) TableName() string { return "sessions" }

// APIKey is a tenant's machine credential.
type APIKey struct {
	TenantID   string     `json:"-" gorm:"column:tenant_id"`
	ID         string     `json:"id" gorm:"column:id"`
	Name       string     `json:"name" gorm:"column:name"`
	Role       string     `json:"role" gorm:"column:role"`
	Prefix     string     `json:"prefix" gorm:"column:prefix"`
	KeyHash    string     `json:"-" gorm:"column:key_hash"`
	CreatedBy  string     `json:"created_by" gorm:"column:created_by"`
	CreatedAt  time.Time  `json:"created_at" gorm:"column:created_at"`
	LastUsedAt *time.Time `json:"last_used_at" gorm:"column:last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at" gorm:"column:revoked_at"`
	// Key is the secret, set only in the answer to creation.
	Key string `json:"key,omitempty" gorm:"-"`
}

// TableName is the API keys table.
func (APIKey) TableName() string { return "api_keys" }

// Service authenticates principals and manages credentials.
type Service struct {
	DB       *storage.DB
	Clock    platform.Clock
	Audit    *audit.Log
	Throttle *Throttle
	// TokenKey keys the hashes of session tokens and API keys (HMAC-SHA256),
	// so a copy of the database alone can't be used to check guesses.
	TokenKey []byte
	// PasswordCost is the bcrypt cost of new password hashes
	// (DefaultPasswordCost when 0); tests lower it, since bcrypt under the
	// race detector is slow.
	PasswordCost int
}

func (s *Service) hashToken(token string) string {
	m := hmac.New(sha256.New, s.TokenKey)
	m.Write([]byte(token))
	return hex.EncodeToString(m.Sum(nil))
}

// NormalizeEmail lower-cases and trims an address.
func NormalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// ValidateCredentials checks an email and a new password, adding problems
// to fe under the given field prefix.
func ValidateCredentials(fe platform.FieldErrors, prefix, email, password string) {
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		fe.Add(prefix+"email", "must be an email address")
	}
	if len(password) < MinPasswordLen || len(password) > 72 {
		fe.Add(prefix+"password", "must be 10 to 72 characters")
	}
}

func (s *Service) passwordCost() int {
	if s.PasswordCost == 0 {
		return DefaultPasswordCost
	}
	return s.PasswordCost
}

// hashPassword returns the bcrypt hash of a password at the service's cost.
func (s *Service) hashPassword(pw string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(pw), s.passwordCost())
	return string(b), err
}

// dummyHashes holds, by bcrypt cost, a hash that is compared against when
// an account does not exist, so the answer takes as long as for a wrong
// password.
var dummyHashes sync.Map

func dummyHash(cost int) []byte {
	if h, ok := dummyHashes.Load(cost); ok {
		return h.([]byte)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("jifen-no-such-user"), cost)
	dummyHashes.Store(cost, h)
	return h
}

// FindUserByEmail returns the user; not_found when absent.
func (s *Service) FindUserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := s.DB.Conn(ctx).Where("email = ?", NormalizeEmail(email)).Take(&u).Error
	return u, storage.Translate(err, "user")
}

// CreateUser adds a user with a hashed password; conflict when the email is
// taken. It joins the context's transaction.
func (s *Service) CreateUser(ctx context.Context, email, password string, platformAdmin bool) (User, error) {
	email = NormalizeEmail(email)
	fe := platform.FieldErrors{}
	ValidateCredentials(fe, "", email, password)
	if err := fe.Err(); err != nil {
		return User{}, err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return User{}, err
	}
	now := s.Clock.Now()
	u := User{ID: ids.NewAt(now), Email: email, PasswordHash: hash, IsPlatformAdmin: platformAdmin, CreatedAt: now, UpdatedAt: now}
	err = s.DB.Tx(ctx, func(ctx context.Context) error {
		if err := s.DB.Conn(ctx).Create(&u).Error; err != nil {
			if storage.IsUniqueViolation(err) {
				return (&platform.Error{Code: platform.EConflict, Message: "A user with this email already exists."}).
					WithDetails(map[string]any{"email": "is taken"})
			}
			return err
		}
		if platformAdmin {
			return rbac.Grant(ctx, s.DB, "user:"+u.ID, rbac.PlatformAdmin, "platform")
		}
		return nil
	})
	return u, err
}

// EnsurePlatformAdmin creates the platform admin with this email unless a
// user with it exists; an existing user is never changed. It reports whether
// it created one.
func (s *Service) EnsurePlatformAdmin(ctx context.Context, email, password string) (bool, error) {
	if _, err := s.FindUserByEmail(ctx, email); err == nil {
		return false, nil
	} else if !platform.IsCode(err, platform.ENotFound) {
		return false, err
	}
	_, err := s.CreateUser(ctx, email, password, true)
	if platform.IsCode(err, platform.EConflict) {
		return false, nil // another replica created it first
	}
	return err == nil, err
}

// LoginResult is the answer to a successful login.
type LoginResult struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      User      `json:"user"`
}

var errBadCredentials = platform.Errorf(platform.EUnauthenticated, "The email or password is wrong.")

// Login checks a password and issues a session token. Failures are counted
// per account and per client address in the database, so the limits hold
// across replicas; past a limit the answer is rate_limited, even for the
// right password, until the window passes. A success clears the account's
// count, not the address's. Throttling adds one SELECT to a login, and one
// write to a failure or to a success after failures.
func (s *Service) Login(ctx context.Context, email, password, clientIP string) (LoginResult, error) {
	email = NormalizeEmail(email)
	fe := platform.FieldErrors{}
	if email == "" {
		fe.Add("email", "is required")
	}
	if password == "" {
		fe.Add("password", "is required")
	}
	if err := fe.Err(); err != nil {
		return LoginResult{}, err
	}
	var subjects loginSubjects
	var accountFailures int64
	if s.Throttle != nil {
		subjects = s.loginSubjects(email, clientIP)
		n, err := s.Throttle.check(ctx, s.DB, subjects)
		if err != nil {
			return LoginResult{}, err
		}
		accountFailures = n
	}
	u, err := s.FindUserByEmail(ctx, email)
	if err != nil && !platform.IsCode(err, platform.ENotFound) {
		return LoginResult{}, err
	}
	hash := []byte(u.PasswordHash)
	if err != nil {
		hash = dummyHash(s.passwordCost())
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || u.ID == "" {
		if s.Throttle != nil {
			// Counted even when the client has gone: hanging up must not
			// buy a free guess.
			if err := s.Throttle.fail(context.WithoutCancel(ctx), s.DB, subjects); err != nil {
				return LoginResult{}, err
			}
		}
		return LoginResult{}, errBadCredentials
	}
	if s.Throttle != nil && accountFailures > 0 {
		if err := s.Throttle.clear(ctx, s.DB, subjects); err != nil {
			return LoginResult{}, err
		}
	}
	token := sessionPrefix + ids.Token(32)
	now := s.Clock.Now()
	sess := session{ID: ids.NewAt(now), TokenHash: s.hashToken(token), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(SessionTTL)}
	if err := s.DB.Tx(ctx, func(ctx context.Context) error { return s.DB.Conn(ctx).Create(&sess).Error }); err != nil {
		return LoginResult{}, err
	}
	return LoginResult{Token: token, ExpiresAt: sess.ExpiresAt, User: u}, nil
}

// Logout revokes the session of the context's principal.
func (s *Service) Logout(ctx context.Context) error {
	p, _ := platform.PrincipalFrom(ctx)
	if p.SessionID == "" {
		return platform.Errorf(platform.EValidation, "Only session tokens can log out; revoke API keys instead.")
	}
	now := s.Clock.Now()
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		return s.DB.Conn(ctx).Model(&session{}).Where("id = ? AND revoked_at IS NULL", p.SessionID).Update("revoked_at", now).Error
	})
}

// ChangePassword checks the current password, stores the new one and
// revokes every session of the user, the current one included.
func (s *Service) ChangePassword(ctx context.Context, current, next string) error {
	p, _ := platform.PrincipalFrom(ctx)
	if p.UserID == "" {
		return platform.Errorf(platform.EForbidden, "API keys have no password.")
	}
	fe := platform.FieldErrors{}
	if len(next) < MinPasswordLen || len(next) > 72 {
		fe.Add("new_password", "must be 10 to 72 characters")
	}
	if err := fe.Err(); err != nil {
		return err
	}
	var u User
	if err := s.DB.Conn(ctx).Where("id = ?", p.UserID).Take(&u).Error; err != nil {
		return storage.Translate(err, "user")
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(current)) != nil {
		return platform.FieldErrors{"current_password": "is wrong"}.Err()
	}
	hash, err := s.hashPassword(next)
	if err != nil {
		return err
	}
	now := s.Clock.Now()
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		if err := s.DB.Conn(ctx).Model(&User{}).Where("id = ?", u.ID).Updates(map[string]any{"password_hash": hash, "updated_at": now}).Error; err != nil {
			return err
		}
		return s.DB.Conn(ctx).Model(&session{}).Where("user_id = ? AND revoked_at IS NULL", u.ID).Update("revoked_at", now).Error
	})
}

// Authenticate resolves a session token or API key to its principal.
func (s *Service) Authenticate(ctx context.Context, token string) (platform.Principal, error) {
	bad := platform.Errorf(platform.EUnauthenticated, "The token is unknown, expired or revoked; log in again or use a valid API key.")
	now := s.Clock.Now()
	switch {
	case strings.HasPrefix(token, sessionPrefix):
		var row struct {
			ID, UserID, Email string
			ExpiresAt         time.Time
			RevokedAt         *time.Time
		}
		err := s.DB.Conn(ctx).Raw(`SELECT s.id, s.user_id, u.email, s.expires_at, s.revoked_at
			FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`, s.hashToken(token)).Scan(&row).Error
		if err != nil {
			return platform.Principal{}, err
		}
		if row.ID == "" || row.RevokedAt != nil || !now.Before(row.ExpiresAt) {
			return platform.Principal{}, bad
		}
		return platform.Principal{UserID: row.UserID, Email: row.Email, SessionID: row.ID}, nil
	case strings.HasPrefix(token, apiKeyPrefix):
		var k APIKey
		err := s.DB.Conn(ctx).Where("key_hash = ?", s.hashToken(token)).Limit(1).Find(&k).Error
		if err != nil {
			return platform.Principal{}, err
		}
		if k.ID == "" || k.RevokedAt != nil {
			return platform.Principal{}, bad
		}
		s.touchKey(ctx, k, now)
		return platform.Principal{APIKeyID: k.ID, KeyTenantID: k.TenantID}, nil
	}
	return platform.Principal{}, bad
}

// keyTouchEvery limits last_used_at writes to one a minute per key, so a
// busy integration doesn't turn every read into a write.
const keyTouchEvery = time.Minute

func (s *Service) touchKey(ctx context.Context, k APIKey, now time.Time) {
	if k.LastUsedAt != nil && now.Sub(*k.LastUsedAt) < keyTouchEvery {
		return
	}
	_ = s.DB.Tx(context.WithoutCancel(ctx), func(ctx context.Context) error {
		return s.DB.Conn(ctx).Model(&APIKey{}).Where("tenant_id = ? AND id = ?", k.TenantID, k.ID).Update("last_used_at", now).Error
	})
}

// CreateAPIKey creates a key with a role in the context's tenant. The
// secret is in the result only.
func (s *Service) CreateAPIKey(ctx context.Context, name, role string) (APIKey, error) {
	fe := platform.FieldErrors{}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		fe.Add("name", "is required, at most 100 characters")
	}
	if !platform.ValidRole(role) {
		fe.Add("role", "must be one of owner, manager, operator, viewer")
	}
	if err := fe.Err(); err != nil {
		return APIKey{}, err
	}
	secret := apiKeyPrefix + ids.Token(32)
	now := s.Clock.Now()
	k := APIKey{TenantID: platform.TenantID(ctx), ID: ids.NewAt(now), Name: name, Role: role,
		Prefix: secret[:len(apiKeyPrefix)+6], KeyHash: s.hashToken(secret), CreatedBy: platform.ActorFrom(ctx), CreatedAt: now}
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		if err := s.DB.Conn(ctx).Create(&k).Error; err != nil {
			return err
		}
		if err := rbac.Grant(ctx, s.DB, "key:"+k.ID, role, k.TenantID); err != nil {
			return err
		}
		return s.Audit.Record(ctx, "api_key.create", "api_key", k.ID, map[string]any{"name": name, "role": role})
	})
	if err != nil {
		return APIKey{}, err
	}
	k.Key = secret
	return k, nil
}

// FindAPIKeys lists the tenant's keys, without secrets.
func (s *Service) FindAPIKeys(ctx context.Context) ([]APIKey, error) {
	var out []APIKey
	err := s.DB.Scoped(ctx).Order("id").Find(&out).Error
	return out, err
}

// RevokeAPIKey revokes a key of the tenant at once; not_found when absent.
func (s *Service) RevokeAPIKey(ctx context.Context, id string) (APIKey, error) {
	var k APIKey
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		if err := s.DB.ForUpdate(s.DB.Scoped(ctx).Where("id = ?", id)).Take(&k).Error; err != nil {
			return storage.Translate(err, "API key")
		}
		if k.RevokedAt != nil {
			return nil
		}
		now := s.Clock.Now()
		k.RevokedAt = &now
		if err := s.DB.Scoped(ctx).Model(&APIKey{}).Where("id = ?", id).Update("revoked_at", now).Error; err != nil {
			return err
		}
		if err := rbac.Revoke(ctx, s.DB, "key:"+k.ID, k.TenantID); err != nil {
			return err
		}
		return s.Audit.Record(ctx, "api_key.revoke", "api_key", k.ID, nil)
	})
	return k, err
}
