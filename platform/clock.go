package platform

import "time"

// Clock tells the time. Services take it as a field so tests can move time
// without sleeping.
type Clock interface {
	Now() time.Time
}
