// list-govmomi: the reference side of bench/vsphere/list_vs_govmomi.sh. It
// asks a vSphere endpoint, through govmomi, for what `hyperctl list` asks:
// one container view over the root folder for VirtualMachine, HostSystem,
// Datastore and Network; one RetrievePropertiesEx with the VM paths of
// hyperctl's backend (-vm-paths, from backends/vsphere/src/connection.cpp
// vm_paths()) and the others' names, then ContinueRetrievePropertiesEx while
// the server pages; DestroyView; decodes the VMs into govmomi's types; logs
// out; prints the VM count.
//
//	HYPERCTL_PASSWORD=... list-govmomi -url https://127.0.0.1:PORT/sdk -user U [-thumbprint SHA256] [-vm-paths a,b,c]
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

	"github.com/vmware/govmomi/session"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// The same as hyperctl's VsphereConnection::vm_paths() when this was written;
// the benchmark script passes the current list with -vm-paths.
const defaultVMPaths = "name,config.instanceUuid,config.uuid,config.guestId,config.template," +
	"config.hardware.numCPU,config.hardware.memoryMB,config.hardware.device,runtime.powerState," +
	"runtime.host,datastore"

func canonical(s string) string {
	return strings.ToUpper(strings.NewReplacer(":", "", " ", "").Replace(s))
}

func run() error {
	sdk := flag.String("url", "", "the SDK URL (https://HOST:PORT/sdk)")
	user := flag.String("user", "", "user name")
	thumbprint := flag.String("thumbprint", "", "SHA-256 thumbprint the certificate must have (empty: not checked)")
	vmPaths := flag.String("vm-paths", defaultVMPaths, "the VM property paths, comma-separated")
	flag.Parse()
	password := os.Getenv("HYPERCTL_PASSWORD")
	if *sdk == "" || *user == "" || password == "" {
		return errors.New("-url, -user and $HYPERCTL_PASSWORD are needed")
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
	vc, err := vim25.NewClient(ctx, sc) // RetrieveServiceContent
	if err != nil {
		return err
	}
	sm := session.NewManager(vc)
	if err := sm.Login(ctx, url.UserPassword(*user, password)); err != nil {
		return err
	}
	defer sm.Logout(ctx)

	kinds := []string{"VirtualMachine", "HostSystem", "Datastore", "Network"}
	cv, err := methods.CreateContainerView(ctx, vc, &types.CreateContainerView{
		This: *vc.ServiceContent.ViewManager, Container: vc.ServiceContent.RootFolder,
		Type: kinds, Recursive: true})
	if err != nil {
		return err
	}
	view := cv.Returnval
	defer methods.DestroyView(ctx, vc, &types.DestroyView{This: view})

	var props []types.PropertySpec
	for _, k := range kinds {
		paths := []string{"name"}
		if k == "VirtualMachine" {
			paths = strings.Split(*vmPaths, ",")
		}
		props = append(props, types.PropertySpec{Type: k, PathSet: paths})
	}
	spec := types.PropertyFilterSpec{
		PropSet: props,
		ObjectSet: []types.ObjectSpec{{Obj: view, Skip: types.NewBool(true),
			SelectSet: []types.BaseSelectionSpec{&types.TraversalSpec{
				SelectionSpec: types.SelectionSpec{Name: "view"},
				Type:          "ContainerView", Path: "view", Skip: types.NewBool(false)}}}},
	}
	pc := vc.ServiceContent.PropertyCollector
	res, err := methods.RetrievePropertiesEx(ctx, vc, &types.RetrievePropertiesEx{
		This: pc, SpecSet: []types.PropertyFilterSpec{spec}})
	if err != nil {
		return err
	}
	var objects []types.ObjectContent
	for r := res.Returnval; r != nil; {
		objects = append(objects, r.Objects...)
		if r.Token == "" {
			break
		}
		next, err := methods.ContinueRetrievePropertiesEx(ctx, vc,
			&types.ContinueRetrievePropertiesEx{This: pc, Token: r.Token})
		if err != nil {
			return err
		}
		r = &next.Returnval
	}
	var vms []mo.VirtualMachine
	var vmObjects []types.ObjectContent
	for _, o := range objects {
		if o.Obj.Type == "VirtualMachine" {
			vmObjects = append(vmObjects, o)
		}
	}
	if err := mo.LoadObjectContent(vmObjects, &vms); err != nil {
		return err
	}
	fmt.Println(len(vms))
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "list-govmomi:", err)
		os.Exit(1)
	}
}
