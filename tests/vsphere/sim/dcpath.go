package main

import (
	"net/http"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
)

// datacenterPaths: the inventory path of every datacenter, names as stored
// joined by '/' from below the root folder ("DC0", "F0/DC0").
func datacenterPaths() map[string]bool {
	paths := map[string]bool{}
	for _, e := range simulator.Map.All("Datacenter") {
		parts := []string{e.Entity().Name}
		parent := e.Entity().Parent
		for parent != nil {
			pe, ok := simulator.Map.Get(*parent).(mo.Entity)
			if !ok || pe.Entity().Parent == nil { // the root folder
				break
			}
			parts = append([]string{pe.Entity().Name}, parts...)
			parent = pe.Entity().Parent
		}
		paths[strings.Join(parts, "/")] = true
	}
	return paths
}

// strictDcPath: /folder requests name the datacenter by its inventory path,
// as vCenter wants; govmomi's simulator would also find one by its bare name.
func strictDcPath(w http.ResponseWriter, r *http.Request) bool {
	if !strings.HasPrefix(r.URL.Path, "/folder/") {
		return true
	}
	dc := strings.Trim(r.URL.Query().Get("dcPath"), "/")
	if dc == "" || datacenterPaths()[dc] {
		return true
	}
	http.Error(w, "no datacenter at inventory path "+dc, http.StatusNotFound)
	return false
}
