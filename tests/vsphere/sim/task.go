package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// Tasks that do not end, for the waiting side of a client (deadlines,
// cancel requests, malformed task infos). A *_Task call with one of these
// rules is not made: it is answered with a task of the simulator's own kind
// (its info read as any other through the PropertyCollector) that stays
// running:
//
//	stuck       CancelTask is accepted but the task keeps running (a task
//	            that cannot be stopped in time)
//	cancellable it runs until CancelTask, then ends in error RequestCanceled
//	stateless   its info has an empty state
type taskKeeper struct {
	mu    sync.Mutex
	tasks map[string]string // task id -> mode
}

func newTaskKeeper() *taskKeeper { return &taskKeeper{tasks: map[string]string{}} }

// thisOf reads the _this reference of a SOAP request.
func thisOf(body []byte) types.ManagedObjectReference {
	d := xml.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := d.Token()
		if err != nil {
			return types.ManagedObjectReference{}
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "_this" {
			continue
		}
		ref := types.ManagedObjectReference{}
		for _, a := range se.Attr {
			if a.Name.Local == "type" {
				ref.Type = a.Value
			}
		}
		var v string
		if d.DecodeElement(&v, &se) == nil {
			ref.Value = strings.TrimSpace(v)
		}
		return ref
	}
}

// start answers `method` with a new task that does not end.
func (k *taskKeeper) start(w http.ResponseWriter, method, mode string, body []byte) {
	this := thisOf(body)
	if this.Value == "" || !strings.HasSuffix(method, "_Task") {
		soapFault(w, "InvalidRequest", "mode "+mode+" is for *_Task calls on an object")
		return
	}
	task := simulator.CreateTask(this, strings.TrimSuffix(method, "_Task")+"Task",
		func(*simulator.Task) (types.AnyType, types.BaseMethodFault) { return nil, nil })
	state := types.TaskInfoStateRunning
	if mode == "stateless" {
		state = types.TaskInfoState("")
	}
	simulator.Map.Update(task, []types.PropertyChange{
		{Name: "info.startTime", Val: time.Now()},
		{Name: "info.state", Val: state},
		{Name: "info.progress", Val: int32(42)},
	})
	k.mu.Lock()
	k.tasks[task.Self.Value] = mode
	k.mu.Unlock()
	writeXML(w, http.StatusOK, envelopeStart+`<`+method+`Response xmlns="urn:vim25">`+
		`<returnval type="Task">`+task.Self.Value+`</returnval></`+method+`Response>`+envelopeEnd)
}

// cancel answers CancelTask for one of our tasks; false for any other task
// (the simulator answers it).
func (k *taskKeeper) cancel(w http.ResponseWriter, body []byte) bool {
	this := thisOf(body)
	k.mu.Lock()
	mode, ok := k.tasks[this.Value]
	k.mu.Unlock()
	if !ok || this.Type != "Task" {
		return false
	}
	if mode == "cancellable" {
		if task, ok := simulator.Map.Get(this).(*simulator.Task); ok {
			simulator.Map.Update(task, []types.PropertyChange{
				{Name: "info.completeTime", Val: time.Now()},
				{Name: "info.state", Val: types.TaskInfoStateError},
				{Name: "info.error", Val: types.LocalizedMethodFault{
					Fault:            &types.RequestCanceled{},
					LocalizedMessage: "The task was canceled by a user."}},
			})
		}
	}
	writeXML(w, http.StatusOK, envelopeStart+
		`<CancelTaskResponse xmlns="urn:vim25"></CancelTaskResponse>`+envelopeEnd)
	return true
}

const envelopeStart = `<?xml version="1.0" encoding="UTF-8"?>` +
	`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"` +
	` xmlns:xsd="http://www.w3.org/2001/XMLSchema"` +
	` xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`
const envelopeEnd = `</soapenv:Body></soapenv:Envelope>`

// httpStatus answers with HTTP `code` and a short plain-text body (mode
// status:N: a proxy or a server that refuses, for SOAP and file transfers).
func httpStatus(w http.ResponseWriter, code int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	io.WriteString(w, http.StatusText(code)+" (injected)\n")
}
