// Package benchlogin logs the bench programs (list-govmomi, import-govmomi)
// in to a vSphere endpoint through govmomi: the SDK URL, the user, the
// password from $HYPERCTL_PASSWORD, and the server certificate pinned by its
// SHA-256 thumbprint when one is given (the simulator's is self-signed).
package benchlogin

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
)

func canonical(s string) string {
	return strings.ToUpper(strings.NewReplacer(":", "", " ", "").Replace(s))
}

// Login returns a logged-in client and a function that logs it out.
func Login(ctx context.Context, sdk, user, thumbprint string) (*vim25.Client, func(), error) {
	password := os.Getenv("HYPERCTL_PASSWORD")
	if sdk == "" || user == "" || password == "" {
		return nil, nil, errors.New("-url, -user and $HYPERCTL_PASSWORD are needed")
	}
	u, err := soap.ParseURL(sdk)
	if err != nil {
		return nil, nil, err
	}
	sc := soap.NewClient(u, true)
	if thumbprint != "" {
		want := canonical(thumbprint)
		sc.DefaultTransport().TLSClientConfig = &tls.Config{
			InsecureSkipVerify: true, // the pin below is the check
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) == 0 {
					return errors.New("no certificate")
				}
				if got := fmt.Sprintf("%X", sha256.Sum256(raw[0])); got != want {
					return fmt.Errorf("certificate thumbprint %s is not the expected %s", got, want)
				}
				return nil
			},
		}
	}
	vc, err := vim25.NewClient(ctx, sc) // RetrieveServiceContent
	if err != nil {
		return nil, nil, err
	}
	sm := session.NewManager(vc)
	if err := sm.Login(ctx, url.UserPassword(user, password)); err != nil {
		return nil, nil, err
	}
	return vc, func() { _ = sm.Logout(ctx) }, nil
}
