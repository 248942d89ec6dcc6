package connectors

// routeTable holds one method's routes in match order (user routes, then
// the built-in table), indexed by segment count: a request is compared only
// with the routes of its length and the tail routes, not the whole table,
// and the earliest matching route still wins.
type routeTable struct {
	all   []*route
	byLen [][]int // segment count → indexes into all, ascending
	tails []int   // indexes of routes ending in {name...}, ascending
}

func newRouteTable(routes []*route) *routeTable {
	t := &routeTable{all: routes}
	for i, r := range routes {
		n := len(r.segs)
		if n > 0 && r.segs[n-1].kind == segTail {
			t.tails = append(t.tails, i)
			continue
		}
		for len(t.byLen) <= n {
			t.byLen = append(t.byLen, nil)
		}
		t.byLen[n] = append(t.byLen[n], i)
	}
	return t
}

// match returns the first route in table order that fits segs, or nil.
func (t *routeTable) match(segs []string) *route {
	best := -1
	if n := len(segs); n < len(t.byLen) {
		for _, i := range t.byLen[n] {
			if t.all[i].match(segs) {
				best = i
				break
			}
		}
	}
	for _, i := range t.tails {
		if best >= 0 && i > best {
			break
		}
		if t.all[i].match(segs) {
			best = i
			break
		}
	}
	if best < 0 {
		return nil
	}
	return t.all[best]
}
