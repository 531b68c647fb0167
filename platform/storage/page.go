package storage

import (
	"fmt"
	"reflect"

	"gorm.io/gorm"

	"jifen/pkg/cursor"
	"jifen/platform"
)

// FindPage runs q for one page of rows of T ordered by their id column, the
// oldest first or, with newestFirst, the newest first (ids are ULIDs, so id
// order is creation order). cur is the next_cursor of the previous page; a
// cursor this function did not make is validation_failed. T must have a
// string field ID.
func FindPage[T any](q *gorm.DB, limit int, cur string, newestFirst bool) ([]T, string, error) {
	var after string
	if ok, err := cursor.Decode(cur, &after); err != nil {
		return nil, "", platform.InvalidCursor()
	} else if ok {
		if newestFirst {
			q = q.Where("id < ?", after)
		} else {
			q = q.Where("id > ?", after)
		}
	}
	order := "id"
	if newestFirst {
		order = "id DESC"
	}
	var out []T
	if err := q.Order(order).Limit(limit + 1).Find(&out).Error; err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		id := reflect.ValueOf(out[len(out)-1]).FieldByName("ID")
		if !id.IsValid() || id.Kind() != reflect.String {
			return nil, "", fmt.Errorf("storage.FindPage: %T has no string field ID", out[0])
		}
		next = cursor.Encode(id.String())
	}
	return out, next, nil
}
