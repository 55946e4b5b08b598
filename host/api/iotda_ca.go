package api

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"slices"
	"sort"

	"github.com/onboardhq/onboard/abi"
	"github.com/onboardhq/onboard/host/provision"
	"github.com/onboardhq/onboard/host/store"
)

// IoTDA device CA certificates: /v5/iot/{project_id}/certificates, the
// shape of huaweicloud-sdk-go-v3 iotda/v5 (AddCertificate, ListCertificates,
// ShowCertificate, UpdateCertificate, DeleteCertificate, CheckCertificate).
// A CA with provision_enable and a bound template is what lets unknown
// devices self-register (host/provision). Two onboard extensions, clearly
// named: onboard-revoke (revoked device serials, in place of OCSP) and the
// template onboard-preview.

func init() {
	register("iotda.device-ca.upload", (*Server).uploadCA)
	register("iotda.device-ca.list", (*Server).listCAs)
	register("iotda.device-ca.show", (*Server).showCA)
	register("iotda.device-ca.update", (*Server).updateCA)
	register("iotda.device-ca.delete", (*Server).deleteCA)
	register("iotda.device-ca.verify", (*Server).verifyCA)
	register("iotda.device-ca.onboard-revoke", (*Server).revokeDeviceCerts)
	register("iotda.provisioning-template.onboard-preview", (*Server).previewTemplate)
}

// caJSON is CertificatesRspDto; show adds name and content.
type caJSON struct {
	CertificateID   string   `json:"certificate_id"`
	Name            string   `json:"name,omitempty"`
	CnName          string   `json:"cn_name"`
	Owner           string   `json:"owner"`
	Status          bool     `json:"status"`
	VerifyCode      string   `json:"verify_code"`
	ProvisionEnable bool     `json:"provision_enable"`
	TemplateID      string   `json:"template_id"`
	OcspEnable      bool     `json:"ocsp_enable"`
	CreateDate      string   `json:"create_date"`
	EffectiveDate   string   `json:"effective_date,omitempty"`
	ExpiryDate      string   `json:"expiry_date,omitempty"`
	Content         string   `json:"content,omitempty"`
	RevokedSerials  []string `json:"onboard_revoked_serials,omitempty"`
}

func caOut(c *store.DeviceCA, full bool) caJSON {
	out := caJSON{CertificateID: c.ID, CnName: c.CommonName, Owner: c.Owner, Status: c.Verified, VerifyCode: c.VerifyCode,
		ProvisionEnable: c.ProvisionEnable, TemplateID: c.TemplateID, CreateDate: c.CreateTime.UTC().Format(iotdaTime),
		RevokedSerials: c.RevokedSerials}
	if cert, err := provision.ParseCertificatePEM(c.CertPEM); err == nil {
		out.EffectiveDate = cert.NotBefore.UTC().Format(iotdaTime)
		out.ExpiryDate = cert.NotAfter.UTC().Format(iotdaTime)
	}
	if full {
		out.Name, out.Content = c.CommonName, c.CertPEM
	}
	return out
}

// newVerifyCode is 32 hex digits: the CN the proof-of-possession
// certificate must carry.
func newVerifyCode() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// bindable checks that a template to bind exists in the CA's scope.
func (s *Server) bindable(c *call, templateID string) error {
	if templateID == "" {
		return nil
	}
	if _, err := s.cfg.Store.GetTemplate(c.r.Context(), c.project, c.header(iotdaInstanceHeader), templateID); err != nil {
		return storeError(c.svc, err, "provisioning template "+templateID)
	}
	return nil
}

func (s *Server) uploadCA(c *call) error {
	var req struct {
		Content         string `json:"content"`
		AppID           string `json:"app_id"`
		ProvisionEnable bool   `json:"provision_enable"`
		TemplateID      string `json:"template_id"`
	}
	if err := c.request(&req); err != nil {
		return err
	}
	cert, err := provision.ParseDeviceCA(req.Content, s.cfg.Now())
	if err != nil {
		return newError(c.svc, kindInvalid, "content: %v", err)
	}
	if err := s.bindable(c, req.TemplateID); err != nil {
		return err
	}
	instance := c.header(iotdaInstanceHeader)
	// Stored as a canonical PEM of the DER, so that the same CA uploaded
	// with other line breaks or comments is recognised.
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	// One look-up on the common name's index entries, not a read of
	// every certificate of the instance.
	existing, _, err := s.cfg.Store.ListDeviceCAs(c.r.Context(), store.DeviceCAFilter{ProjectID: c.project, InstanceID: instance,
		CommonName: cert.Subject.CommonName, CertPEM: certPEM, Page: store.Page{Limit: 1, NoTotal: true}})
	if err != nil {
		return storeError(c.svc, err, "device CA certificates")
	}
	if len(existing) > 0 {
		return newError(c.svc, kindConflict, "this CA certificate is already uploaded as %s", existing[0].ID)
	}
	ca := &store.DeviceCA{ID: newTemplateID(), ProjectID: c.project, InstanceID: instance, AppID: req.AppID, CertPEM: certPEM,
		CommonName: cert.Subject.CommonName, Owner: c.project, VerifyCode: newVerifyCode(),
		ProvisionEnable: req.ProvisionEnable, TemplateID: req.TemplateID}
	if err := s.cfg.Store.CreateDeviceCA(c.r.Context(), ca); err != nil {
		return storeError(c.svc, err, "device CA certificate")
	}
	return c.reply(http.StatusOK, caOut(ca, false))
}

func (s *Server) listCAs(c *call) error {
	f := store.DeviceCAFilter{ProjectID: c.project, InstanceID: c.header(iotdaInstanceHeader), AppID: c.query("app_id"),
		Marker: c.query("marker"), Page: c.page(10)}
	cas, total, err := s.cfg.Store.ListDeviceCAs(c.r.Context(), f)
	if err != nil {
		return storeError(c.svc, err, "marker "+f.Marker)
	}
	items := make([]caJSON, 0, len(cas))
	page := map[string]any{"count": total}
	for i := range cas {
		items = append(items, caOut(&cas[i], false))
	}
	if len(cas) > 0 {
		page["marker"] = cas[len(cas)-1].ID
	}
	return c.reply(http.StatusOK, map[string]any{"certificates": items, "page": page})
}

func (s *Server) getCA(c *call) (*store.DeviceCA, error) {
	id := c.r.PathValue("certificate_id")
	ca, err := s.cfg.Store.GetDeviceCA(c.r.Context(), c.project, c.header(iotdaInstanceHeader), id)
	if err != nil {
		return nil, storeError(c.svc, err, "device CA certificate "+id)
	}
	return ca, nil
}

func (s *Server) showCA(c *call) error {
	ca, err := s.getCA(c)
	if err != nil {
		return err
	}
	return c.reply(http.StatusOK, caOut(ca, true))
}

func (s *Server) updateCA(c *call) error {
	var req struct {
		ProvisionEnable *bool           `json:"provision_enable"`
		TemplateID      json.RawMessage `json:"template_id"`
	}
	if err := c.request(&req); err != nil {
		return err
	}
	ca, err := s.getCA(c)
	if err != nil {
		return err
	}
	if req.ProvisionEnable != nil {
		ca.ProvisionEnable = *req.ProvisionEnable
	}
	if req.TemplateID != nil {
		// null and "" unbind (the schema allows only these and ids).
		var id string
		_ = json.Unmarshal(req.TemplateID, &id)
		if err := s.bindable(c, id); err != nil {
			return err
		}
		ca.TemplateID = id
	}
	if err := s.cfg.Store.UpdateDeviceCA(c.r.Context(), ca); err != nil {
		return storeError(c.svc, err, "device CA certificate "+ca.ID)
	}
	return c.reply(http.StatusOK, caOut(ca, false))
}

func (s *Server) deleteCA(c *call) error {
	id := c.r.PathValue("certificate_id")
	if err := s.cfg.Store.DeleteDeviceCA(c.r.Context(), c.project, c.header(iotdaInstanceHeader), id); err != nil {
		return storeError(c.svc, err, "device CA certificate "+id)
	}
	return c.reply(http.StatusNoContent, nil)
}

// verifyCA checks the proof of possession. The real service answers 200
// with no body; onboard answers 200 with the certificate (status true), which
// the SDK's CheckCertificateResponse keeps as its string Body.
func (s *Server) verifyCA(c *call) error {
	var req struct {
		VerifyContent string `json:"verify_content"`
	}
	if err := c.request(&req); err != nil {
		return err
	}
	ca, err := s.getCA(c)
	if err != nil {
		return err
	}
	cert, err := provision.ParseCertificatePEM(ca.CertPEM)
	if err != nil {
		return fmt.Errorf("stored device CA %s: %w", ca.ID, err)
	}
	if err := provision.VerifyPossession(cert, req.VerifyContent, ca.VerifyCode, s.cfg.Now()); err != nil {
		return newError(c.svc, kindInvalid, "%v", err)
	}
	ca.Verified = true
	if err := s.cfg.Store.UpdateDeviceCA(c.r.Context(), ca); err != nil {
		return storeError(c.svc, err, "device CA certificate "+ca.ID)
	}
	return c.reply(http.StatusOK, caOut(ca, false))
}

// revokeDeviceCerts adds serials to the CA's revoked list (onboard's
// stand-in for CRLs and OCSP, which it does not fetch).
func (s *Server) revokeDeviceCerts(c *call) error {
	var req struct {
		SerialNumbers []string `json:"serial_numbers"`
	}
	if err := c.request(&req); err != nil {
		return err
	}
	ca, err := s.getCA(c)
	if err != nil {
		return err
	}
	for _, sn := range req.SerialNumbers {
		if n := provision.NormalizeSerial(sn); !slices.Contains(ca.RevokedSerials, n) {
			ca.RevokedSerials = append(ca.RevokedSerials, n)
		}
	}
	sort.Strings(ca.RevokedSerials)
	if err := s.cfg.Store.UpdateDeviceCA(c.r.Context(), ca); err != nil {
		return storeError(c.svc, err, "device CA certificate "+ca.ID)
	}
	return c.reply(http.StatusOK, caOut(ca, false))
}

// previewTemplate resolves a stored template for a certificate subject
// with the engine, as self-registration would, and writes nothing.
func (s *Server) previewTemplate(c *call) error {
	var req struct {
		Subject map[string]string `json:"subject"`
	}
	if err := c.request(&req); err != nil {
		return err
	}
	t, err := s.getTemplate(c)
	if err != nil {
		return err
	}
	in, err := abi.ResolveInput(t.Body, req.Subject)
	if err != nil {
		return err
	}
	res, err := c.validate(abi.OpResolve, nil, in)
	if err != nil {
		return err
	}
	if !res.Valid || res.Device == nil {
		return invalid(c.svc, res)
	}
	cas, _, err := s.cfg.Store.ListDeviceCAs(c.r.Context(), store.DeviceCAFilter{ProjectID: c.project, InstanceID: t.InstanceID,
		TemplateID: t.ID, Page: store.Page{NoTotal: true}})
	if err != nil {
		return storeError(c.svc, err, "device CA certificates")
	}
	ids := []string{}
	for _, ca := range cas {
		if ca.ProvisionEnable {
			ids = append(ids, ca.ID)
		}
	}
	dev := res.Device
	if dev.Tags == nil {
		dev.Tags = []abi.Tag{}
	}
	if dev.PolicyIDs == nil {
		dev.PolicyIDs = []string{}
	}
	return c.reply(http.StatusOK, map[string]any{"template_id": t.ID, "effective": len(ids) > 0, "certificate_ids": ids, "device": dev})
}
