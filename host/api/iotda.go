package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/onboardhq/onboard/host/store"
)

// IoTDA pre-provisioning templates: /v5/iot/{project_id}/provisioning-templates.
// The store enforces the documented limit of 10 templates per instance and
// unique names, atomically across hosts.

func init() {
	register("iotda.provisioning-template.create", (*Server).createTemplate)
	register("iotda.provisioning-template.list", (*Server).listTemplates)
	register("iotda.provisioning-template.show", (*Server).showTemplate)
	register("iotda.provisioning-template.update", (*Server).updateTemplate)
	register("iotda.provisioning-template.delete", (*Server).deleteTemplate)
}

const iotdaInstanceHeader = "Instance-Id"

// iotdaTime is the doc's yyyyMMdd'T'HHmmss'Z', e.g. 20151212T121212Z.
const iotdaTime = "20060102T150405Z"

type templateJSON struct {
	TemplateID   string          `json:"template_id"`
	TemplateName string          `json:"template_name"`
	Description  string          `json:"description"`
	TemplateBody json.RawMessage `json:"template_body,omitempty"`
	CreateTime   string          `json:"create_time"`
	UpdateTime   string          `json:"update_time"`
}

func templateOut(t *store.ProvisioningTemplate, withBody bool) templateJSON {
	out := templateJSON{TemplateID: t.ID, TemplateName: t.Name, Description: t.Description,
		CreateTime: t.CreateTime.UTC().Format(iotdaTime), UpdateTime: t.UpdateTime.UTC().Format(iotdaTime)}
	if withBody {
		out.TemplateBody = t.Body
	}
	return out
}

// newTemplateID returns 24 hex digits, the form of IoTDA ids.
func newTemplateID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type templateRequest struct {
	TemplateName string          `json:"template_name"`
	Description  *string         `json:"description"`
	TemplateBody json.RawMessage `json:"template_body"`
}

func (s *Server) createTemplate(c *call) error {
	var req templateRequest
	if err := c.request(&req); err != nil {
		return err
	}
	now := s.cfg.Now().UTC().Truncate(time.Second)
	t := &store.ProvisioningTemplate{ID: newTemplateID(), ProjectID: c.project, InstanceID: c.header(iotdaInstanceHeader),
		Name: req.TemplateName, Body: compactJSON(req.TemplateBody), CreateTime: now, UpdateTime: now}
	if req.Description != nil {
		t.Description = *req.Description
	}
	if err := s.cfg.Store.CreateTemplate(c.r.Context(), t); err != nil {
		return storeError(c.svc, err, fmt.Sprintf("provisioning template %q", t.Name))
	}
	return c.reply(http.StatusCreated, templateOut(t, true))
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}

func (s *Server) listTemplates(c *call) error {
	page, err := s.cfg.Store.ListTemplates(c.r.Context(), store.TemplateFilter{ProjectID: c.project,
		InstanceID: c.header(iotdaInstanceHeader), Name: c.query("template_name"), Marker: c.query("marker"),
		Page: c.page(10)})
	if err != nil {
		return storeError(c.svc, err, "marker "+c.query("marker"))
	}
	items := make([]templateJSON, 0, len(page.Items))
	for i := range page.Items {
		items = append(items, templateOut(&page.Items[i], false))
	}
	pageInfo := map[string]any{"count": page.Total}
	if page.Marker != "" { // an empty page has no last id, and "" is no marker
		pageInfo["marker"] = page.Marker
	}
	return c.reply(http.StatusOK, map[string]any{"templates": items, "page": pageInfo})
}

func (s *Server) getTemplate(c *call) (*store.ProvisioningTemplate, error) {
	id := c.r.PathValue("template_id")
	t, err := s.cfg.Store.GetTemplate(c.r.Context(), c.project, c.header(iotdaInstanceHeader), id)
	if err != nil {
		return nil, storeError(c.svc, err, "provisioning template "+id)
	}
	return t, nil
}

func (s *Server) showTemplate(c *call) error {
	t, err := s.getTemplate(c)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, templateOut(t, true))
}

func (s *Server) updateTemplate(c *call) error {
	var req templateRequest
	if err := c.request(&req); err != nil {
		return err
	}
	t, err := s.getTemplate(c)
	if err != nil {
		return err
	}
	if req.Description != nil {
		t.Description = *req.Description
	}
	if req.TemplateBody != nil {
		t.Body = compactJSON(req.TemplateBody)
	}
	t.UpdateTime = s.cfg.Now().UTC().Truncate(time.Second)
	if err := s.cfg.Store.UpdateTemplate(c.r.Context(), t); err != nil {
		return storeError(c.svc, err, "provisioning template "+t.ID)
	}
	return c.reply(http.StatusOK, templateOut(t, true))
}

func (s *Server) deleteTemplate(c *call) error {
	id := c.r.PathValue("template_id")
	if err := s.cfg.Store.DeleteTemplate(c.r.Context(), c.project, c.header(iotdaInstanceHeader), id); err != nil {
		return storeError(c.svc, err, "provisioning template "+id)
	}
	return c.reply(http.StatusNoContent, nil)
}
