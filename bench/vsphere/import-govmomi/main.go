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
	"benchlogin"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/vmdk"
)

func run() error {
	sdk := flag.String("url", "", "the SDK URL (https://HOST:PORT/sdk)")
	user := flag.String("user", "", "user name")
	thumbprint := flag.String("thumbprint", "", "SHA-256 thumbprint the certificate must have (empty: not checked)")
	datastore := flag.String("datastore", "", "the datastore to import into")
	name := flag.String("name", "", "the folder to move the disk to (empty: where the import put it)")
	flag.Parse()
	if *datastore == "" || flag.NArg() != 1 {
		return errors.New("-datastore and one VMDK are needed")
	}
	ctx := context.Background()
	vc, logout, err := benchlogin.Login(ctx, *sdk, *user, *thumbprint)
	if err != nil {
		return err
	}
	defer logout()

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
