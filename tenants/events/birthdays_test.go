package events_test

import (
	"testing"
	"time"

	"jifen/platform/storage"
	"jifen/platform/storage/storagetest"
	"jifen/tenants/members"
)

func TestAwardBirthdays(t *testing.T) {
	storagetest.ForEach(t, func(t *testing.T, db *storage.DB) {
		f := newFixture(t, db, nil)
		f.rule(t, `{"template":"birthday","params":{"points":200}}`)
		add := func(ext, birthday string) string {
			m, err := f.members.CreateMember(f.ctx, members.Input{ExternalID: &ext, Birthday: &birthday})
			if err != nil {
				t.Fatal(err)
			}
			return m.ID
		}
		// 2027-02-28 00:30 in Shanghai is still 2027-02-27 in UTC.
		now := time.Date(2027, 2, 27, 16, 30, 0, 0, time.UTC)
		f.clk.Set(now)
		today := add("b-today", "1990-02-28")
		leap := add("b-leap", "1992-02-29")
		utcDay := add("b-utc", "1990-02-27")
		erased := add("b-erased", "1991-02-28")
		if _, err := f.members.EraseMember(f.ctx, erased); err != nil {
			t.Fatal(err)
		}
		run, err := f.svc.AwardBirthdays(f.ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if run.LocalDate != "2027-02-28" || run.Members != 2 || run.Awarded != 2 {
			t.Fatalf("first run: got %+v, want 2 members awarded on 2027-02-28", run)
		}
		f.clk.Set(now.Add(time.Hour))
		again, err := f.svc.AwardBirthdays(f.ctx, now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if again.Awarded != 0 || again.Repeated != 2 {
			t.Fatalf("second run: got %+v, want nothing new", again)
		}
		for id, want := range map[string]int64{today: 200, leap: 200, utcDay: 0} {
			if got := f.standing(t, id).Available; got != want {
				t.Errorf("member %s: got %d points, want %d", id, got, want)
			}
		}
		// The merchant's own birthday event for the same year is refused too.
		r := f.post(t, map[string]any{"type": "birthday", "member_id": today})
		if r.Status != 409 {
			t.Fatalf("a second birthday in one year: got %d %s, want 409", r.Status, r.Body)
		}
		// Next year it pays again.
		f.clk.Set(now.AddDate(1, 0, 0))
		if run, err := f.svc.AwardBirthdays(f.ctx, now.AddDate(1, 0, 0)); err != nil || run.Awarded != 1 {
			t.Fatalf("next year: got %+v %v, want the one member born on 28 February", run, err)
		}
	})
}
