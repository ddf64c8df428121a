package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
)

// endpoint: the flags every client subcommand takes.
type endpoint struct {
	url, user, password, thumbprint string
}

func (e *endpoint) register(fs *flag.FlagSet) {
	fs.StringVar(&e.url, "url", "", "the SDK URL (https://127.0.0.1:PORT/sdk)")
	fs.StringVar(&e.user, "user", "hyper", "user name")
	fs.StringVar(&e.password, "password", "", "password (default: $HYPERCTL_VCSIM_PASSWORD, which keeps it out of ps)")
	fs.StringVar(&e.thumbprint, "thumbprint", "", "SHA-256 thumbprint the server's certificate must have "+
		"(default: any certificate: a test tool talking to 127.0.0.1)")
}

func canonicalThumbprint(s string) string {
	return strings.ToUpper(strings.NewReplacer(":", "", " ", "").Replace(s))
}

// login opens a session of govmomi's own client.
func login(ctx context.Context, e endpoint) (*vim25.Client, *session.Manager, error) {
	if e.url == "" {
		return nil, nil, errors.New("-url is needed")
	}
	if e.password == "" {
		e.password = os.Getenv("HYPERCTL_VCSIM_PASSWORD")
	}
	u, err := soap.ParseURL(e.url)
	if err != nil {
		return nil, nil, err
	}
	sc := soap.NewClient(u, true)
	if e.thumbprint != "" {
		want := canonicalThumbprint(e.thumbprint)
		sc.DefaultTransport().TLSClientConfig = &tls.Config{
			InsecureSkipVerify: true, // the pin below is the check
			VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
				if len(raw) == 0 {
					return errors.New("no certificate")
				}
				if got := canonicalThumbprint(thumbprintOf(raw[0])); got != want {
					return fmt.Errorf("certificate thumbprint %s is not the expected %s", got, want)
				}
				return nil
			},
		}
	}
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return nil, nil, err
	}
	sm := session.NewManager(vc)
	if err := sm.Login(ctx, url.UserPassword(e.user, e.password)); err != nil {
		return nil, nil, fmt.Errorf("login: %v", err)
	}
	return vc, sm, nil
}

// otherSessions: the keys of the sessions other than this client's own.
func otherSessions(ctx context.Context, vc *vim25.Client, sm *session.Manager) ([]string, error) {
	own, err := sm.UserSession(ctx)
	if err != nil {
		return nil, err
	}
	var smo mo.SessionManager
	pc := property.DefaultCollector(vc)
	if err := pc.RetrieveOne(ctx, *vc.ServiceContent.SessionManager, []string{"sessionList"}, &smo); err != nil {
		return nil, err
	}
	var keys []string
	for _, s := range smo.SessionList {
		if own == nil || s.Key != own.Key {
			keys = append(keys, s.Key)
		}
	}
	return keys, nil
}

// expireSessions terminates every session but the one it opens for the
// purpose (then logs that one out); returns how many it ended.
func expireSessions(sdk, user, password, thumbprint string) (int, error) {
	ctx := context.Background()
	vc, sm, err := login(ctx, endpoint{sdk, user, password, thumbprint})
	if err != nil {
		return 0, err
	}
	defer sm.Logout(ctx)
	keys, err := otherSessions(ctx, vc, sm)
	if err != nil || len(keys) == 0 {
		return 0, err
	}
	return len(keys), sm.TerminateSession(ctx, keys)
}
