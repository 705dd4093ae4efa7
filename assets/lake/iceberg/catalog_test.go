package iceberg_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/reprocess/reprocess/assets/lake/iceberg"
)

// TestRESTCatalogSendsTheToken opens REST catalogs served by a stand-in
// server: the configured token reaches it as a bearer token, and a
// refusal is an error naming the catalog.
func TestRESTCatalogSendsTheToken(t *testing.T) {
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer t0k" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error": {"message": "bad token", "type": "NotAuthorizedException", "code": 401}}`))
			return
		}
		w.Write([]byte(`{"defaults": {}, "overrides": {}}`))
	}))
	defer srv.Close()
	ctx := context.Background()
	cat, err := iceberg.Catalog{URI: srv.URL, Token: "t0k"}.Open(ctx)
	if err != nil {
		t.Fatalf("open with the token: %v (requests %v)", err, auth)
	}
	iceberg.Close(cat)
	if len(auth) == 0 || auth[0] != "/v1/config Bearer t0k" {
		t.Errorf("requests %v, want /v1/config with the bearer token first", auth)
	}
	_, err = iceberg.Catalog{URI: srv.URL, Token: "wrong"}.Open(ctx)
	if err == nil || !strings.Contains(err.Error(), srv.URL) {
		t.Errorf("open with a wrong token: %v, want an error naming %s", err, srv.URL)
	}
}
