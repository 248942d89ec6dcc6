package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type readiness struct{ err error }

func (r readiness) Ready() error { return r.err }

func TestProbes(t *testing.T) {
	cases := []struct {
		name   string
		ready  error
		path   string
		status int
		body   string
	}{
		{"healthz is ok while starting", errors.New("starting"), "/healthz", 200, `"ok"`},
		{"readyz says why it is not ready", errors.New("starting"), "/readyz", 503, `"starting"`},
		{"readyz is ok when ready", nil, "/readyz", 200, `"ready"`},
		{"unknown paths are 404", nil, "/nope", 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			New(Deps{Ready: readiness{tc.ready}}, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
				t.Errorf("%d %s", rec.Code, rec.Body)
			}
		})
	}
}
