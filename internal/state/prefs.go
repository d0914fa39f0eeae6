package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Homepage is the page the web app opens first for a user (SonarQube's
// api/users/set_homepage): a type and, for a project, its key.
type Homepage struct {
	Type      string `json:"type"`
	Component string `json:"component,omitempty"`
	Branch    string `json:"branch,omitempty"`
}

// Prefs are a user's web-app preferences. They grant nothing, so they are
// kept beside the settings rather than in the authorization index.
type Prefs struct {
	// Homepage is nil until the user sets one.
	Homepage *Homepage `json:"homepage,omitempty"`
	// Dismissed lists the notices the user dismissed, sorted.
	Dismissed []string `json:"dismissed,omitempty"`
}

// prefsKey is the settings key of a user's preferences: per user id, so a
// login change or anonymisation keeps them with the account.
func prefsKey(userID int64) string { return fmt.Sprintf("users.%d.prefs", userID) }

// UserPrefs returns a user's preferences; a user who set none has the zero
// value.
func (s *State) UserPrefs(ctx context.Context, userID int64) (Prefs, error) {
	return readPrefs(ctx, s.store, userID)
}

func readPrefs(ctx context.Context, r store.Reader, userID int64) (Prefs, error) {
	var p Prefs
	v, err := r.GetSetting(ctx, prefsKey(userID))
	if errors.Is(err, identity.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return Prefs{}, fmt.Errorf("user %d preferences: %w", userID, err)
	}
	return p, nil
}

// SetHomepage stores a user's homepage.
func (s *State) SetHomepage(ctx context.Context, userID int64, h Homepage) error {
	return s.editPrefs(ctx, userID, func(p *Prefs) { p.Homepage = &h })
}

// DismissNotice records that a user dismissed a notice; dismissing it again
// changes nothing.
func (s *State) DismissNotice(ctx context.Context, userID int64, notice string) error {
	return s.editPrefs(ctx, userID, func(p *Prefs) {
		if !slices.Contains(p.Dismissed, notice) {
			p.Dismissed = append(p.Dismissed, notice)
			slices.Sort(p.Dismissed)
		}
	})
}

// editPrefs rewrites a user's preferences in one transaction. It bypasses
// [State.write] on purpose: preferences are not in the index, so bumping
// the revision would only make every replica reload for nothing; they are
// not audited, as SonarQube does not audit them either.
func (s *State) editPrefs(ctx context.Context, userID int64, edit func(*Prefs)) error {
	return s.store.Tx(ctx, func(tx store.Tx) error {
		if _, err := tx.GetUser(ctx, userID); err != nil {
			return err
		}
		p, err := readPrefs(ctx, tx, userID)
		if err != nil {
			return err
		}
		edit(&p)
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		return tx.SetSetting(ctx, prefsKey(userID), string(b))
	})
}
