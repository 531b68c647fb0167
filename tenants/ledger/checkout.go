package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"jifen/pkg/ids"
	"jifen/platform"
)

// Checkout deduction (积分抵扣): a quote says how many points may pay part
// of an order; a hold freezes them at once (they leave available as a spend
// entry, so they can't be spent twice) until the order is paid (capture) or
// abandoned (release, or the hold expires and releases itself).

const (
	// maxOrderAmountCents bounds order amounts so point arithmetic can't
	// overflow (10^11 fen is one billion yuan).
	maxOrderAmountCents  = 100_000_000_000
	defaultHoldMinutes   = 15
	defaultPointsPerUnit = 100
)

// quote computes the deduction for an order: at most max_deduction_percent
// of the amount, at most the available points, and a whole number of cents
// (points are rounded down to a multiple that is worth whole cents).
func quote(cfg settings, amountCents, available int64) Quote {
	ppu := cfg.PointsPerUnit
	if ppu <= 0 {
		ppu = defaultPointsPerUnit
	}
	pct := min(max(cfg.MaxDeductionPercent, 0), 100)
	maxCents := amountCents * pct / 100
	points := maxCents * ppu / 100
	points = min(points, max(available, 0))
	step := ppu / gcd(ppu, 100) // the fewest points worth a whole number of cents
	points -= points % step
	return Quote{MaxPoints: points, MaxDeductionCents: points * 100 / ppu, PointsPerUnit: ppu, Available: available}
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func checkOrderAmount(fe platform.FieldErrors, v int64) {
	if v < 0 || v > maxOrderAmountCents {
		fe.Add("order_amount_cents", fmt.Sprintf("must be an integer from 0 to %d", int64(maxOrderAmountCents)))
	}
}

func checkOrderID(fe platform.FieldErrors, v string) {
	if strings.TrimSpace(v) == "" {
		fe.Add("order_id", "is required")
	}
	checkText(fe, "order_id", v, maxOrderLen)
}

// Quote says how many of the member's points may pay part of an order under
// the tenant's points_per_unit and max_deduction_percent; not_found when
// the member is not in the tenant.
func (s *Service) Quote(ctx context.Context, in QuoteInput) (Quote, error) {
	fe := platform.FieldErrors{}
	checkMember(fe, "member_id", in.MemberID)
	checkOrderAmount(fe, in.OrderAmountCents)
	if err := fe.Err(); err != nil {
		return Quote{}, err
	}
	view, err := s.PointsOf(ctx, in.MemberID)
	if err != nil {
		return Quote{}, err
	}
	cfg, err := s.st().loadSettings(ctx)
	if err != nil {
		return Quote{}, err
	}
	return quote(cfg, in.OrderAmountCents, view.Available), nil
}

// CreateHold freezes points for an order for the tenant's hold_minutes.
// It returns insufficient_points when the member has too few, conflict when
// the order already has a live or captured hold, validation_failed when the
// points exceed what the order allows (given order_amount_cents) and
// not_found for a member not in the tenant.
func (s *Service) CreateHold(ctx context.Context, in HoldInput) (Hold, error) {
	fe := platform.FieldErrors{}
	checkMember(fe, "member_id", in.MemberID)
	checkOrderID(fe, in.OrderID)
	checkAmount(fe, "points", in.Points, true)
	checkOrderAmount(fe, in.OrderAmountCents)
	if err := fe.Err(); err != nil {
		return Hold{}, err
	}
	var h holdRow
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		now := s.now()
		a, _, err := s.openAccount(ctx, in.MemberID, now)
		if err != nil {
			return err
		}
		cfg, err := a.settings(ctx)
		if err != nil {
			return err
		}
		if in.OrderAmountCents > 0 {
			// The order's cap alone; too few points is insufficient_points below.
			limit := quote(*cfg, in.OrderAmountCents, maxPoints).MaxPoints
			if in.Points > limit {
				return platform.FieldErrors{"points": fmt.Sprintf("at most %d points may pay for this order", limit)}.Err()
			}
		}
		live, err := a.st.liveHoldsForOrder(ctx, in.OrderID, now)
		if err != nil {
			return err
		}
		if len(live) > 0 {
			return (&platform.Error{Code: platform.EConflict,
				Message: fmt.Sprintf("Order %s already has a %s points hold; release it first.", in.OrderID, live[0].Status)}).
				WithDetails(map[string]any{"hold_id": live[0].ID})
		}
		minutes := cfg.HoldMinutes
		if minutes <= 0 {
			minutes = defaultHoldMinutes
		}
		h = holdRow{TenantID: platform.TenantID(ctx), ID: ids.NewAt(now), MemberID: in.MemberID, OrderID: in.OrderID,
			Points: in.Points, Status: HoldHeld, ExpiresAt: now.Add(time.Duration(minutes) * time.Minute),
			CreatedAt: now, UpdatedAt: now}
		e, err := a.debit(ctx, debitSpec{kind: KindSpend, points: in.Points, source: sourceHold, due: h.ExpiresAt,
			reason: "Points deduction for order " + in.OrderID, ref: "hold:" + h.ID})
		if err != nil {
			return err
		}
		h.EntryID = e.ID
		return a.st.insertHold(ctx, &h)
	})
	if err != nil {
		return Hold{}, err
	}
	return h.api(), nil
}

// GetHold returns a hold; one that expired uncaptured has released itself
// by the time it is returned. not_found when the hold is not in the tenant.
func (s *Service) GetHold(ctx context.Context, id string) (Hold, error) {
	st := s.st()
	h, err := st.findHold(ctx, id)
	if err != nil {
		return Hold{}, err
	}
	if now := s.now(); h.Status == HoldHeld && !h.ExpiresAt.After(now) {
		if _, err := s.settleMember(ctx, h.MemberID, now); err != nil {
			return Hold{}, err
		}
		if h, err = st.findHold(ctx, id); err != nil {
			return Hold{}, err
		}
	}
	return h.api(), nil
}

// CaptureHold confirms a hold: its points stay spent. Capturing twice
// changes nothing; a released or expired hold returns conflict.
func (s *Service) CaptureHold(ctx context.Context, id string) (Hold, error) {
	return s.changeHold(ctx, id, func(ctx context.Context, a *account, h *holdRow) error {
		switch h.Status {
		case HoldCaptured:
			return nil
		case HoldReleased, HoldExpired:
			return platform.Errorf(platform.EConflict, "This hold was %s and its points went back to the member; create a new hold.", h.Status)
		}
		ok, err := a.st.setHoldStatus(ctx, h.ID, HoldCaptured, map[string]any{"captured_at": a.now, "updated_at": a.now})
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("ledger: hold %s changed under the member's lock", h.ID)
		}
		h.Status, h.CapturedAt = HoldCaptured, &a.now
		return nil
	})
}

// ReleaseHold gives a hold's points back with a reverse entry. Releasing a
// released or expired hold changes nothing; a captured hold returns
// conflict.
func (s *Service) ReleaseHold(ctx context.Context, id string) (Hold, error) {
	return s.changeHold(ctx, id, func(ctx context.Context, a *account, h *holdRow) error {
		switch h.Status {
		case HoldReleased, HoldExpired:
			return nil
		case HoldCaptured:
			return platform.Errorf(platform.EConflict, "This hold was captured; its points paid for the order.")
		}
		return a.releaseHold(ctx, *h, HoldReleased)
	})
}

// changeHold runs fn on a hold under its member's lock, after the member's
// account was settled (which releases the hold if it expired).
func (s *Service) changeHold(ctx context.Context, id string, fn func(ctx context.Context, a *account, h *holdRow) error) (Hold, error) {
	st := s.st()
	h, err := st.findHold(ctx, id)
	if err != nil {
		return Hold{}, err
	}
	err = s.DB.Tx(ctx, func(ctx context.Context) error {
		a, _, err := s.openAccount(ctx, h.MemberID, s.now())
		if err != nil {
			return err
		}
		if h, err = st.findHold(ctx, id); err != nil {
			return err
		}
		if err := fn(ctx, a, &h); err != nil {
			return err
		}
		h, err = st.findHold(ctx, id)
		return err
	})
	if err != nil {
		return Hold{}, err
	}
	return h.api(), nil
}
