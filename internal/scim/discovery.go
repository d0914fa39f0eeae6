package scim

import (
	"net/http"
	"strings"
	"time"
)

// The discovery documents carry a fixed version: they change only with a
// release.
var discoveryTime = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const docURI = "https://github.com/gatehouse-dev/gatehouse#scim-provisioning"

func (s *Server) discovery(c *call, rest []string) (int, error) {
	switch strings.ToLower(rest[0]) {
	case "serviceproviderconfig":
		if len(rest) > 1 {
			return 0, notFound("No such resource")
		}
		return s.answer(c, http.StatusOK, s.serviceProviderConfig(c), discoveryTime)
	case "resourcetypes":
		all := []map[string]any{resourceTypeDoc(c, usersType), resourceTypeDoc(c, groupsType)}
		return listOrOne(c, rest, all, func(d map[string]any) string { return d["id"].(string) })
	}
	all := []map[string]any{schemaDoc(c, usersType.Schema, "User", "User Account", withCommon(usersType.Attrs)),
		schemaDoc(c, schemaEnterprise, "EnterpriseUser", "Enterprise User", enterpriseAttrs),
		schemaDoc(c, groupsType.Schema, "Group", "Group", withCommon(groupsType.Attrs))}
	return listOrOne(c, rest, all, func(d map[string]any) string { return d["id"].(string) })
}

func withCommon(attrs []attribute) []attribute {
	return append([]attribute{idAttr, externalIDAttr}, append(append([]attribute{}, attrs...), metaAttr)...)
}

func listOrOne(c *call, rest []string, all []map[string]any, id func(map[string]any) string) (int, error) {
	if len(rest) == 2 {
		for _, d := range all {
			if strings.EqualFold(id(d), rest[1]) {
				writeJSON(c.w, http.StatusOK, d)
				return http.StatusOK, nil
			}
		}
		return 0, notFound("%s %s not found", rest[0], rest[1])
	}
	if len(rest) > 2 {
		return 0, notFound("No such resource")
	}
	res := make([]any, len(all))
	for i, d := range all {
		res[i] = d
	}
	writeJSON(c.w, http.StatusOK, map[string]any{"schemas": []string{schemaList}, "totalResults": len(all), "startIndex": 1, "itemsPerPage": len(all), "Resources": res})
	return http.StatusOK, nil
}

func (s *Server) serviceProviderConfig(c *call) map[string]any {
	return map[string]any{
		"schemas":          []string{schemaSPC},
		"documentationUri": docURI,
		"patch":            map[string]any{"supported": true},
		// Bulk is not offered; a single PATCH takes up to 10,000
		// operations or member values (documented in the README).
		"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": s.opts.MaxBodyBytes},
		"filter":         map[string]any{"supported": true, "maxResults": maxResults},
		"changePassword": map[string]any{"supported": false},
		"sort":           map[string]any{"supported": false},
		"etag":           map[string]any{"supported": true},
		"authenticationSchemes": []any{map[string]any{
			"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": true,
			"description":      "A Gatehouse SCIM token (gts_…) from api/scim_tokens/generate or `gatehouse token scim`, sent as Authorization: Bearer.",
			"specUri":          "https://www.rfc-editor.org/info/rfc6750",
			"documentationUri": docURI,
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": c.base + "/ServiceProviderConfig",
			"created": discoveryTime.Format(timeFormat), "lastModified": discoveryTime.Format(timeFormat), "version": etag(discoveryTime)},
	}
}

func resourceTypeDoc(c *call, rt *resourceType) map[string]any {
	d := map[string]any{
		"schemas": []string{schemaRT}, "id": rt.Name, "name": rt.Name, "endpoint": rt.Endpoint, "description": rt.Description,
		"schema": rt.Schema,
		"meta":   map[string]any{"resourceType": "ResourceType", "location": c.base + "/ResourceTypes/" + rt.Name},
	}
	var ext []any
	for u := range rt.Extensions {
		ext = append(ext, map[string]any{"schema": u, "required": false})
	}
	if ext != nil {
		d["schemaExtensions"] = ext
	}
	return d
}

func schemaDoc(c *call, id, name, desc string, attrs []attribute) map[string]any {
	return map[string]any{
		"schemas": []string{schemaSchema}, "id": id, "name": name, "description": desc, "attributes": attrs,
		"meta": map[string]any{"resourceType": "Schema", "location": c.base + "/Schemas/" + id},
	}
}
