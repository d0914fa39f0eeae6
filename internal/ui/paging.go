package ui

import (
	"net/url"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// pageSize is the rows of a listing page: lists are always paged in the
// store, never loaded whole.
const pageSize = 50

// maxPage bounds the page number a query string may ask for.
const maxPage = 100_000

// pager is the paging bar under a list.
type pager struct {
	Number, Total, Pages int
	Prev, Next           string // links; "" at an end
}

// pageOf reads the p parameter (1 when absent or bad).
func pageOf(q url.Values) store.Page {
	n, err := strconv.Atoi(q.Get("p"))
	if err != nil || n < 1 || n > maxPage {
		n = 1
	}
	return store.Page{Number: n, Size: pageSize}
}

// newPager builds the bar for page pg of total rows, keeping the other
// parameters of q in its links.
func newPager(path string, q url.Values, pg store.Page, total int) pager {
	pages := max(1, (total+pg.Size-1)/pg.Size)
	link := func(n int) string {
		v := url.Values{}
		for k, vs := range q {
			if k != "p" {
				v[k] = vs
			}
		}
		if n > 1 {
			v.Set("p", strconv.Itoa(n))
		}
		if len(v) == 0 {
			return path
		}
		return path + "?" + v.Encode()
	}
	p := pager{Number: pg.Number, Total: total, Pages: pages}
	if pg.Number > 1 {
		p.Prev = link(min(pg.Number-1, pages))
	}
	if pg.Number < pages {
		p.Next = link(pg.Number + 1)
	}
	return p
}
