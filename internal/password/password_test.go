package password

import (
	"errors"
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	h, err := Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$") {
		t.Fatalf("hash %q is not PHC argon2id", h)
	}
	if err := Verify(h, "correct horse battery staple"); err != nil {
		t.Fatalf("Verify(right) = %v", err)
	}
	if err := Verify(h, "wrong"); !errors.Is(err, ErrMismatch) {
		t.Fatalf("Verify(wrong) = %v, want ErrMismatch", err)
	}
	h2, _ := Hash("correct horse battery staple")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestVerifyRejectsGarbage(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2id$v=19$m=1,t=1,p=1$!!$!!", "$bcrypt$x$y$z$w", "$argon2id$v=19$m=999999999,t=1,p=1$AAAA$AAAA"} {
		if err := Verify(h, "pw"); err == nil {
			t.Errorf("Verify(%q) accepted", h)
		}
	}
}
