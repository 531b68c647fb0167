package events

import (
	"context"
	"fmt"
	"time"

	"jifen/platform"
)

func tenantLocation(ctx context.Context) *time.Location {
	t, _ := platform.TenantFrom(ctx)
	return t.Location()
}

// BirthdayRun is what one run of AwardBirthdays did.
type BirthdayRun struct {
	LocalDate string `json:"local_date"`
	Members   int    `json:"members"`  // members whose birthday it is
	Awarded   int    `json:"awarded"`  // birthday events processed now
	Repeated  int    `json:"repeated"` // already processed this year
}

// AwardBirthdays sends a birthday event for every member of the context's
// tenant whose birthday is today in the tenant's zone (members born on 29
// February celebrate on 28 February in other years). Each member gets one
// birthday event a year however often this runs, so the scheduler may
// retry it safely.
func (s *Service) AwardBirthdays(ctx context.Context, now time.Time) (BirthdayRun, error) {
	local := now.In(tenantLocation(ctx))
	run := BirthdayRun{LocalDate: local.Format("2006-01-02")}
	days := []string{local.Format("-01-02")}
	if local.Month() == time.February && local.Day() == 28 && !isLeap(local.Year()) {
		days = append(days, "-02-29")
	}
	idList, err := s.Members.FindMemberIDsByBirthday(ctx, days)
	if err != nil {
		return run, err
	}
	run.Members = len(idList)
	at := now.UTC().Format(time.RFC3339Nano)
	for _, id := range idList {
		_, err := s.Ingest(ctx, Request{Type: TypeBirthday, MemberID: id, OccurredAt: at})
		switch {
		case err == nil:
			run.Awarded++
		case platform.IsCode(err, platform.EConflict):
			run.Repeated++
		default:
			return run, fmt.Errorf("birthday of member %s: %w", id, err)
		}
	}
	return run, nil
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }
