// import-govmomi: the reference side of bench/vsphere/migrate_vs_govmomi.sh.
// It imports a local streamOptimized VMDK into a datastore with govmomi's own
// importer (package vmdk: an OVF import through ImportVApp and an
// HttpNfcLease upload, as `govc import.vmdk` does), into the default
// datacenter's default resource pool and VM folder.
//
// vmdk.Import creates a VM around the disk, detaches the disk, destroys the
// VM and, with -name, moves the disk to NAME/. The simulator's Destroy_Task
// deletes the VM's folder with the detached disk in it (ESXi keeps it), so
// against the simulator -name fails at that move (FileNotFound) and without
// -name the disk does not stay: the work measured (conversion aside, the
// import: the OVF import, the lease and the upload) is done either way.
//
//	HYPERCTL_PASSWORD=... import-govmomi -url https://127.0.0.1:PORT/sdk -user U [-thumbprint SHA256] -datastore DS [-name NAME] DISK.vmdk
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vmdk"
)

func canonical(s string) string {
	return strings.ToUpper(strings.NewReplacer(":", "", " ", "").Replace(s))
}

func run() error {
	sdk := flag.String("url", "", "the SDK URL (https://HOST:PORT/sdk)")
	user := flag.String("user", "", "user name")
	thumbprint := flag.String("thumbprint", "", "SHA-256 thumbprint the certificate must have (empty: not checked)")
	datastore := flag.String("datastore", "", "the datastore to import into")
	name := flag.String("name", "", "the folder to move the disk to (empty: where the import put it)")
	flag.Parse()
	password := os.Getenv("HYPERCTL_PASSWORD")
	if *sdk == "" || *user == "" || password == "" || *datastore == "" || flag.NArg() != 1 {
		return errors.New("-url, -user, -datastore, one VMDK and $HYPERCTL_PASSWORD are needed")
	}
	ctx := context.Background()
	u, err := soap.ParseURL(*sdk)
	if err != nil {
		return err
	}
	sc := soap.NewClient(u, true)
	if *thumbprint != "" {
		want := canonical(*thumbprint)
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
	vc, err := vim25.NewClient(ctx, sc)
	if err != nil {
		return err
	}
	sm := session.NewManager(vc)
	if err := sm.Login(ctx, url.UserPassword(*user, password)); err != nil {
		return err
	}
	defer sm.Logout(ctx)

	finder := find.NewFinder(vc, false)
	dc, err := finder.DefaultDatacenter(ctx)
	if err != nil {
		return err
	}
	finder.SetDatacenter(dc)
	ds, err := finder.Datastore(ctx, *datastore)
	if err != nil {
		return err
	}
	pool, err := finder.DefaultResourcePool(ctx)
	if err != nil {
		return err
	}
	folder, err := finder.DefaultFolder(ctx)
	if err != nil {
		return err
	}
	return vmdk.Import(ctx, vc, flag.Arg(0), ds, vmdk.ImportParams{
		Path: *name, Datacenter: dc, Pool: pool, Folder: folder})
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "import-govmomi:", err)
		os.Exit(1)
	}
}
