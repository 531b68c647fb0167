package ledger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"jifen/pkg/cursor"
	"jifen/pkg/ids"
	"jifen/platform"
	httpx "jifen/platform/http"
	"jifen/tenants/members"
)

// Transfers (积分转赠) move points between members of a tenant; donations
// (积分捐赠) give them to a tenant-defined cause. Both are final: the
// entries they write can't be reversed.

const (
	maxCauseNameLen        = 100  // characters
	maxCauseDescriptionLen = 1000 // characters
)

// Transfer moves points from one member to another in one transaction: a
// transfer_out entry for the sender (drawn FIFO by expiry) and a
// transfer_in entry for the receiver whose lots keep the expiry dates of
// the sender's lots they came from, so a transfer never extends validity.
// It returns conflict when the tenant has transfers off,
// validation_failed when the sender's daily cap (transfer_daily_cap, in
// the tenant's local day) would be exceeded, insufficient_points, and
// not_found when either member is not in the tenant.
func (s *Service) Transfer(ctx context.Context, in TransferInput) (Transfer, error) {
	in.Reason = strings.TrimSpace(in.Reason)
	fe := platform.FieldErrors{}
	checkMember(fe, "from_member_id", in.FromMemberID)
	checkMember(fe, "to_member_id", in.ToMemberID)
	if in.FromMemberID != "" && in.FromMemberID == in.ToMemberID {
		fe.Add("to_member_id", "must be another member than from_member_id")
	}
	checkAmount(fe, "points", in.Points, true)
	checkText(fe, "reason", in.Reason, maxReasonLen)
	if err := fe.Err(); err != nil {
		return Transfer{}, err
	}
	var out Transfer
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		now := s.now()
		cfg, err := s.st().loadSettings(ctx)
		if err != nil {
			return err
		}
		if !cfg.TransfersEnabled {
			return platform.Errorf(platform.EConflict, "Point transfers are turned off for this tenant; a manager can turn them on in the settings.")
		}
		// Two members' locks, always in id order, so two opposite
		// transfers queue instead of deadlocking.
		var from, to *account
		first, second := in.FromMemberID, in.ToMemberID
		if second < first {
			first, second = second, first
		}
		for _, id := range []string{first, second} {
			a, _, err := s.openAccount(ctx, id, now)
			if err != nil {
				return err
			}
			a.cfg = &cfg
			if id == in.FromMemberID {
				from = a
			} else {
				to = a
			}
		}
		if cfg.TransferDailyCap > 0 {
			loc, err := from.location(ctx)
			if err != nil {
				return err
			}
			y, m, d := now.In(loc).Date()
			start := time.Date(y, m, d, 0, 0, 0, 0, loc)
			sent, err := from.st.transferredOut(ctx, from.member, start.UTC(), start.AddDate(0, 0, 1).UTC())
			if err != nil {
				return err
			}
			if left := max(cfg.TransferDailyCap-sent, 0); in.Points > left {
				return (&platform.Error{Code: platform.EValidation,
					Message: fmt.Sprintf("The sender may transfer %d points a day and has %d left today.", cfg.TransferDailyCap, left)}).
					WithDetails(map[string]any{"points": fmt.Sprintf("must be at most %d today (daily cap %d)", left, cfg.TransferDailyCap)})
			}
		}
		out.ID = ids.NewAt(now)
		ref := "transfer:" + out.ID
		reason := in.Reason
		if reason == "" {
			reason = "Points transfer"
		}
		eOut, err := from.debit(ctx, debitSpec{kind: KindTransferOut, points: in.Points, reason: reason, ref: ref, source: sourceTransfer})
		if err != nil {
			return err
		}
		draws, err := from.st.drawsOf(ctx, eOut.ID)
		if err != nil {
			return err
		}
		eIn, err := to.receive(ctx, draws, in.Points, reason, ref)
		if err != nil {
			return err
		}
		out.TransferOut, out.TransferIn = eOut.api(), eIn.api()
		out.Points, err = from.view(ctx)
		return err
	})
	if err != nil {
		return Transfer{}, err
	}
	return out, nil
}

// receive credits a transfer: one lot per expiry date of the sender's
// lots the points were drawn from.
func (a *account) receive(ctx context.Context, draws []drawRow, points int64, reason, ref string) (entryRow, error) {
	var lotIDs []string
	for _, d := range draws {
		lotIDs = append(lotIDs, d.LotID)
	}
	src, err := a.st.lotsByID(ctx, lotIDs)
	if err != nil {
		return entryRow{}, err
	}
	byExpiry := map[time.Time]int64{}
	var order []time.Time
	var due time.Time
	for _, d := range draws {
		exp := src[d.LotID].ExpiresAt.UTC()
		if _, ok := byExpiry[exp]; !ok {
			order = append(order, exp)
		}
		byExpiry[exp] += d.Points
		if due.IsZero() || exp.Before(due) {
			due = exp
		}
	}
	if err := a.apply(ctx, change{available: points, entries: 1, due: due}, 0); err != nil {
		return entryRow{}, err
	}
	e := a.newEntry(ctx, KindTransferIn, points, reason, ref, sourceTransfer)
	a.stamp(&e)
	if err := a.st.insertEntry(ctx, &e); err != nil {
		return entryRow{}, err
	}
	var total int64
	for _, exp := range order {
		n := byExpiry[exp]
		total += n
		lot := lotRow{TenantID: platform.TenantID(ctx), ID: ids.NewAt(a.now), MemberID: a.member, EntryID: e.ID,
			Points: n, Remaining: n, State: lotOpen, ExpiresAt: exp, CreatedAt: a.now, UpdatedAt: a.now}
		if err := a.st.insertLot(ctx, &lot); err != nil {
			return entryRow{}, err
		}
	}
	if total != points {
		return entryRow{}, fmt.Errorf("ledger: transfer drew %d points but moves %d", total, points)
	}
	return e, a.repayDebt(ctx)
}

// CreateCause adds a cause members can donate to; conflict when the name
// is taken in the tenant.
func (s *Service) CreateCause(ctx context.Context, in CauseInput) (Cause, error) {
	in.Name, in.Description = strings.TrimSpace(in.Name), strings.TrimSpace(in.Description)
	fe := platform.FieldErrors{}
	if in.Name == "" {
		fe.Add("name", "is required")
	}
	checkText(fe, "name", in.Name, maxCauseNameLen)
	checkText(fe, "description", in.Description, maxCauseDescriptionLen)
	if err := fe.Err(); err != nil {
		return Cause{}, err
	}
	now := s.now()
	c := causeRow{TenantID: platform.TenantID(ctx), ID: ids.NewAt(now), Name: in.Name, Description: in.Description,
		CreatedAt: now, UpdatedAt: now}
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		if err := s.st().insertCause(ctx, &c); err != nil {
			return err
		}
		if s.Audit == nil {
			return nil
		}
		return s.Audit.Record(ctx, "cause.create", "cause", c.ID, map[string]any{"name": c.Name})
	})
	if err != nil {
		return Cause{}, err
	}
	return c.api(), nil
}

// ListCauses lists the tenant's causes, oldest first.
func (s *Service) ListCauses(ctx context.Context, limit int, cur string) ([]Cause, string, error) {
	if limit <= 0 {
		limit = cursor.DefaultLimit
	}
	var after string
	if _, err := cursor.Decode(cur, &after); err != nil {
		return nil, "", httpx.InvalidCursor()
	}
	rows, err := s.st().listCauses(ctx, after, limit)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(rows) > limit {
		rows = rows[:limit]
		next = cursor.Encode(rows[len(rows)-1].ID)
	}
	out := make([]Cause, len(rows))
	for i, r := range rows {
		out[i] = r.api()
	}
	return out, next, nil
}

// Donate gives a member's points to a cause: a spend entry with ref
// cause:<id>, and the cause's running total grows in the same transaction.
// not_found for a cause or member not in the tenant; insufficient_points.
func (s *Service) Donate(ctx context.Context, causeID string, in DonationInput) (Donation, error) {
	fe := platform.FieldErrors{}
	checkMember(fe, "member_id", in.MemberID)
	checkAmount(fe, "points", in.Points, true)
	if err := fe.Err(); err != nil {
		return Donation{}, err
	}
	st := s.st()
	c, err := st.findCause(ctx, causeID)
	if err != nil {
		return Donation{}, err
	}
	var out Donation
	err = s.DB.Tx(ctx, func(ctx context.Context) error {
		a, _, err := s.openAccount(ctx, in.MemberID, s.now())
		if err != nil {
			return err
		}
		e, err := a.debit(ctx, debitSpec{kind: KindSpend, points: in.Points, source: sourceDonation,
			reason: "Donation to " + c.Name, ref: "cause:" + c.ID})
		if err != nil {
			return err
		}
		if err := st.addDonation(ctx, c.ID, in.Points, a.now); err != nil {
			return err
		}
		if c, err = st.findCause(ctx, causeID); err != nil {
			return err
		}
		var view members.PointsView
		if view, err = a.view(ctx); err != nil {
			return err
		}
		out = Donation{Entry: e.api(), Points: view, Cause: c.api()}
		return nil
	})
	if err != nil {
		return Donation{}, err
	}
	return out, nil
}
