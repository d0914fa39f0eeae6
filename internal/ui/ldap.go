package ui

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/provision"
)

// ldapRoutes are the LDAP page's routes.
func (u *UI) ldapRoutes() []route {
	return []route{
		{"GET /provisioning/ldap", adminOnly, u.ldapPage},
		{"POST /provisioning/ldap/settings", adminOnly, u.saveLDAPSettings},
		{"POST /provisioning/ldap/sync", adminOnly, u.syncLDAP},
		{"POST /provisioning/ldap/test", adminOnly, u.testLDAP},
	}
}

// ldapSetting is one field of the settings form.
type ldapSetting struct {
	provision.SettingValue
	ID string
	// Clear is the secret's "remove the stored value" box, ticked.
	Clear bool
}

type ldapData struct {
	// Wired: the server has a provisioning engine with an LDAP source.
	Wired    bool
	Settings []ldapSetting
	Status   provision.Status
	// Login is the test form's login; Test its answer; Unconfigured says
	// the directory is not configured, so nothing could be tested.
	Login        string
	Test         *ldapTestView
	Unconfigured bool
}

// ldapTestView is the directory test's answer as the page shows it. The
// tester's value (the LDAP connector's TestResult) reaches the UI as an
// opaque value; its JSON form is the Web API's documented api/ldap/test
// answer, so the page reads that rather than import the connector.
type ldapTestView struct {
	Servers []struct {
		Server    string `json:"server"`
		Reachable bool   `json:"reachable"`
		Error     string `json:"error"`
		Millis    int64  `json:"latencyMs"`
	} `json:"servers"`
	Found        bool     `json:"found"`
	Login        string   `json:"login"`
	DN           string   `json:"dn"`
	Name         string   `json:"name"`
	Email        string   `json:"email"`
	Active       bool     `json:"active"`
	Groups       []string `json:"groups"`
	GroupsSynced bool     `json:"groupsSynced"`
	Error        string   `json:"error"`
}

func (u *UI) ldapSource() bool {
	if u.opts.Provisioner == nil {
		return false
	}
	for _, s := range u.opts.Provisioner.Sources() {
		if s == identity.SourceLDAP {
			return true
		}
	}
	return false
}

// ldapData reads the settings and the sync status; form, when given,
// keeps what the admin typed (a refused save shows the form as sent).
func (u *UI) ldapData(p *pageCall, form map[string]string) (ldapData, error) {
	d := ldapData{Wired: u.ldapSource()}
	if !d.Wired {
		return d, nil
	}
	vals, err := u.opts.Provisioner.Settings(p.ctx, identity.SourceLDAP)
	if err != nil {
		return d, err
	}
	for i, v := range vals {
		s := ldapSetting{SettingValue: v, ID: fmt.Sprintf("ldap-setting-%d", i)}
		if form != nil {
			if v.Secret {
				s.Clear = form[clearPrefix+v.Name] != ""
			} else {
				s.Value = form[v.Name]
			}
		}
		d.Settings = append(d.Settings, s)
	}
	d.Status, err = u.opts.Provisioner.Status(p.ctx, identity.SourceLDAP)
	return d, err
}

func (u *UI) ldapPage(p *pageCall) error {
	d, err := u.ldapData(p, nil)
	if err != nil {
		return err
	}
	return p.show("ldap", "LDAP", d)
}

// saveLDAPSettings sends the engine the settings that changed: a field
// left as shown is not sent (so a default stays a default), an empty
// secret keeps the stored one unless its box says to remove it. The engine
// checks the result against the live directory and refuses with the reason.
func (u *UI) saveLDAPSettings(p *pageCall) error {
	if !u.ldapSource() {
		return errNoLDAPSource
	}
	current, err := u.opts.Provisioner.Settings(p.ctx, identity.SourceLDAP)
	if err != nil {
		return err
	}
	form := map[string]string{}
	for k := range p.r.PostForm {
		form[k] = strings.TrimSpace(p.r.PostForm.Get(k))
	}
	changes := settingChanges(current, p.r.PostForm)
	if len(changes) == 0 {
		return p.done("/provisioning/ldap", "Nothing changed.")
	}
	if err := u.opts.Provisioner.SetSettings(p.ctx, identity.SourceLDAP, changes); err != nil {
		d, derr := u.ldapData(p, form)
		if derr != nil {
			return derr
		}
		return p.showError("ldap", "LDAP", d, err)
	}
	return p.done("/provisioning/ldap", "LDAP settings saved.")
}

var errNoLDAPSource = identity.Errorf(identity.ErrInvalid, "This server has no LDAP provisioning source.")

func (u *UI) syncLDAP(p *pageCall) error {
	if !u.ldapSource() {
		return errNoLDAPSource
	}
	q, err := u.opts.Provisioner.Queue(p.ctx, identity.SourceLDAP, false)
	if err != nil {
		return err
	}
	if q.AlreadyPending {
		return p.done("/provisioning/ldap", fmt.Sprintf("A synchronization is already pending (run %d): nothing more was queued.", q.Run.ID))
	}
	return p.done("/provisioning/ldap", fmt.Sprintf("Synchronization queued (run %d).", q.Run.ID))
}

// testLDAP looks a login up as sign-in would, through the Web API's
// directory test; it changes nothing, so the answer is the page itself.
func (u *UI) testLDAP(p *pageCall) error {
	d, err := u.ldapData(p, nil)
	if err != nil {
		return err
	}
	d.Login = strings.TrimSpace(p.r.PostForm.Get("login"))
	var res any
	ok := false
	if u.opts.LDAPTest != nil {
		res, ok = u.opts.LDAPTest(p.ctx, d.Login)
	}
	if !ok {
		d.Unconfigured = true
		return p.show("ldap", "LDAP", d)
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	d.Test = &ldapTestView{}
	if err := json.Unmarshal(b, d.Test); err != nil {
		return fmt.Errorf("ldap test answer: %w", err)
	}
	return p.show("ldap", "LDAP", d)
}
