package events

import (
	"context"
	"time"

	"jifen/platform"
)

const dateLayout = "2006-01-02"

// localDate is the day of t in the tenant's time zone.
func localDate(ctx context.Context, t time.Time) string {
	tenant, _ := platform.TenantFrom(ctx)
	return t.In(tenant.Location()).Format(dateLayout)
}

// dayBefore returns the date before a YYYY-MM-DD date. Dates are handled
// as UTC midnights so daylight-saving changes can't skip or repeat a day.
func dayBefore(date string) string {
	d, err := time.Parse(dateLayout, date)
	if err != nil {
		return ""
	}
	return d.AddDate(0, 0, -1).Format(dateLayout)
}

// checkIn works out a check-in of the member at t: its local day, and the
// streak it reaches (the previous day's streak plus one, else 1 after a
// missed day), or that the member already checked in that day.
func (s *Service) checkIn(ctx context.Context, memberID string, t time.Time) (*CheckInDetails, error) {
	day := localDate(ctx, t)
	last, err := store{s.DB}.lastCheckin(ctx, memberID, day)
	if err != nil {
		return nil, err
	}
	switch {
	case last == nil:
		return &CheckInDetails{LocalDate: day, Streak: 1}, nil
	case last.LocalDate == day:
		return &CheckInDetails{LocalDate: day, Streak: last.Streak, Repeated: true}, nil
	case last.LocalDate == dayBefore(day):
		return &CheckInDetails{LocalDate: day, Streak: last.Streak + 1}, nil
	}
	return &CheckInDetails{LocalDate: day, Streak: 1}, nil
}

// currentStreak is the member's streak as seen by events other than
// check-ins at t: the streak of a check-in that day or the day before,
// else 0.
func (s *Service) currentStreak(ctx context.Context, memberID string, t time.Time) (int64, error) {
	day := localDate(ctx, t)
	last, err := store{s.DB}.lastCheckin(ctx, memberID, day)
	if err != nil || last == nil {
		return 0, err
	}
	if last.LocalDate == day || last.LocalDate == dayBefore(day) {
		return last.Streak, nil
	}
	return 0, nil
}
