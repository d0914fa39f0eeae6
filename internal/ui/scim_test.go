package ui

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestSCIMSetupAssistant(t *testing.T) {
	ts := newTestServer(t)
	b := ts.browser()
	b.signIn("admin", adminPassword)
	host := strings.TrimPrefix(ts.srv.URL, "http://")
	p := b.get("/provisioning/scim").must(200).contains(`id="scim-endpoint">http://`+host+`/scim/v2</code>`, `data-copy="scim-endpoint"`, "No SCIM token yet.", "Microsoft Entra ID", "Okta", "userName")
	checkPage(t, p)
	b.post("/provisioning/scim/tokens/new", "name", "", "expiry", "365").must(http.StatusBadRequest)
	b.get("/provisioning/scim").must(200)
	created := b.post("/provisioning/scim/tokens/new", "name", "entra", "expiry", "365").must(200).contains("SCIM token entra created", "Copy the token now")
	checkPage(t, created)
	secret := secretRE.FindStringSubmatch(created.body)[1]
	if !strings.HasPrefix(secret, "gts_") {
		t.Fatalf("secret %q", secret)
	}
	// The token works on the SCIM endpoint.
	req, _ := http.NewRequest(http.MethodGet, ts.srv.URL+"/scim/v2/Users", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /scim/v2/Users with the token: %d", res.StatusCode)
	}
	page := b.get("/provisioning/scim").must(200).contains("entra").lacks(secret)
	action := regexp.MustCompile(`action="(/provisioning/scim/tokens/\d+/revoke)"`).FindStringSubmatch(page.body)[1]
	b.post(action).must(http.StatusSeeOther)
	b.get("/provisioning/scim").must(200).contains("SCIM token entra revoked", "No SCIM token yet.")
	if _, err := ts.st.Authenticate(secret); err == nil {
		t.Fatal("a revoked SCIM token works")
	}
}
