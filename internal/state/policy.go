package state

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/identity"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// TokenPolicy is the instance-wide token policy (SPEC §3).
type TokenPolicy struct {
	// MaxLifetimeDays per token type; 0 or absent: no maximum.
	MaxLifetimeDays map[identity.TokenType]int `json:"maxLifetimeDays"`
	// AllowNonExpiring allows tokens without an expiry date for types with no
	// maximum lifetime.
	AllowNonExpiring bool `json:"allowNonExpiring"`
}

const settingTokenPolicy = "token.policy"

// DefaultTokenPolicy is SonarQube's default: no maximum, "No expiration"
// allowed.
func DefaultTokenPolicy() TokenPolicy {
	return TokenPolicy{MaxLifetimeDays: map[identity.TokenType]int{}, AllowNonExpiring: true}
}

func (s *State) policy(ctx context.Context, r store.Reader) (TokenPolicy, error) {
	p := DefaultTokenPolicy()
	v, err := r.GetSetting(ctx, settingTokenPolicy)
	if errors.Is(err, identity.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(v), &p); err != nil {
		return p, err
	}
	if p.MaxLifetimeDays == nil {
		p.MaxLifetimeDays = map[identity.TokenType]int{}
	}
	return p, nil
}

// TokenPolicy returns the current token policy.
func (s *State) TokenPolicy(ctx context.Context) (TokenPolicy, error) { return s.policy(ctx, s.store) }

// SetTokenPolicy replaces the token policy. It applies to tokens created or
// edited afterwards.
func (s *State) SetTokenPolicy(ctx context.Context, p TokenPolicy) error {
	for t, d := range p.MaxLifetimeDays {
		if !t.Valid() {
			return identity.Errorf(identity.ErrInvalid, "Unknown token type '%s'", t)
		}
		if d < 0 || d > 3650 {
			return identity.Errorf(identity.ErrInvalid, "Maximum lifetime must be between 0 and 3650 days")
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx store.Tx) (audit, func(), error) {
		old, err := s.policy(ctx, tx)
		if err != nil {
			return audit{}, nil, err
		}
		if err := tx.SetSetting(ctx, settingTokenPolicy, string(b)); err != nil {
			return audit{}, nil, err
		}
		return audit{Action: "settings.token_policy", Target: "settings", Before: old, After: p}, nil, nil
	})
}

func (p TokenPolicy) check(t identity.TokenType, expiresAt, now time.Time) error {
	max := p.MaxLifetimeDays[t]
	if expiresAt.IsZero() {
		if max > 0 || !p.AllowNonExpiring {
			return identity.Errorf(identity.ErrInvalid, "Tokens without an expiration date are not allowed by the instance policy")
		}
		return nil
	}
	if !expiresAt.After(now) {
		return identity.Errorf(identity.ErrInvalid, "The expiration date must be in the future")
	}
	if max > 0 {
		limit := now.Add(time.Duration(max) * 24 * time.Hour)
		if expiresAt.After(limit) {
			return identity.Errorf(identity.ErrInvalid, "Tokens expiring after %s are not allowed. Please use an expiration date before %s.", limit.Format("2006-01-02"), limit.Format("2006-01-02"))
		}
	}
	return nil
}
