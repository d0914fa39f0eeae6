package scim

import (
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/store"
)

// Schema URNs.
const (
	schemaUser       = "urn:ietf:params:scim:schemas:core:2.0:User"
	schemaEnterprise = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	schemaGroup      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	schemaList       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	schemaPatch      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	schemaError      = "urn:ietf:params:scim:api:messages:2.0:Error"
	schemaSPC        = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	schemaRT         = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	schemaSchema     = "urn:ietf:params:scim:schemas:core:2.0:Schema"
)

// Ids carry their resource type, so that a group's id sent to /Users is a
// 404 rather than another object.
const (
	userPrefix  = "u-"
	groupPrefix = "g-"
)

func formatID(prefix string, id int64) string { return prefix + strconv.FormatInt(id, 10) }

func parseID(prefix, s string) (int64, bool) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, false
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	return id, err == nil && id > 0 && formatID(prefix, id) == s
}

type matchKind uint8

const (
	matchText  matchKind = iota // a text column
	matchID                     // a prefixed id
	matchBool                   // a boolean column
	matchTime                   // a time column
	matchConst                  // a value every stored row has
)

// fieldMatch says how a filter on an attribute reaches the store.
type fieldMatch struct {
	kind      matchKind
	field     store.Field
	caseExact bool
	prefix    string // matchID
	constant  string // matchConst
}

// attribute is an RFC 7643 §7 attribute definition, and how Gatehouse
// stores it.
type attribute struct {
	Name          string      `json:"name"`
	Type          string      `json:"type"`
	MultiValued   bool        `json:"multiValued"`
	Description   string      `json:"description"`
	Required      bool        `json:"required"`
	CaseExact     bool        `json:"caseExact"`
	Mutability    string      `json:"mutability"`
	Returned      string      `json:"returned"`
	Uniqueness    string      `json:"uniqueness"`
	SubAttributes []attribute `json:"subAttributes,omitempty"`
	CanonicalVals []string    `json:"canonicalValues,omitempty"`
	ReferenceType []string    `json:"referenceTypes,omitempty"`

	// match maps a lower-case sub-attribute name ("" for the attribute
	// itself) to its column; absent: accepted but not stored.
	match map[string]fieldMatch
}

func (a attribute) filterable(sub string) (fieldMatch, bool) {
	m, ok := a.match[strings.ToLower(sub)]
	return m, ok
}

func str(name, desc string) attribute {
	return attribute{Name: name, Type: "string", Description: desc, Mutability: "readWrite", Returned: "default", Uniqueness: "none"}
}

func typed(a attribute, typ string) attribute { a.Type = typ; return a }

func complexAttr(name, desc string, multi bool, subs ...attribute) attribute {
	return attribute{Name: name, Type: "complex", MultiValued: multi, Description: desc, Mutability: "readWrite", Returned: "default", Uniqueness: "none", SubAttributes: subs}
}

func multiSubs(valueDesc string, types ...string) []attribute {
	t := str("type", "A label indicating the attribute's function.")
	t.CanonicalVals = types
	return []attribute{
		str("value", valueDesc), str("display", "A human-readable name, primarily used for display purposes."),
		t, typed(str("primary", "Whether this is the primary value."), "boolean"),
	}
}

func withMatch(a attribute, m map[string]fieldMatch) attribute { a.match = m; return a }

func readOnly(a attribute) attribute { a.Mutability = "readOnly"; return a }

var (
	userAttrs = []attribute{
		withMatch(func() attribute {
			a := str("userName", "Unique identifier for the User, the Gatehouse login. The IdP attribute mapped to it must be the login users sign in with.")
			a.Required, a.Uniqueness = true, "server"
			return a
		}(), map[string]fieldMatch{"": {kind: matchText, field: store.FieldLogin}}),
		withMatch(complexAttr("name", "The components of the user's real name.", false,
			str("formatted", "The full name."), str("familyName", "The family name."), str("givenName", "The given name."),
			str("middleName", "The middle name."), str("honorificPrefix", "The honorific prefix."), str("honorificSuffix", "The honorific suffix.")),
			map[string]fieldMatch{"formatted": {kind: matchText, field: store.FieldName}}),
		withMatch(str("displayName", "The name of the User, suitable for display; Gatehouse's user name."), map[string]fieldMatch{"": {kind: matchText, field: store.FieldName}}),
		str("nickName", "The casual way to address the user."),
		typed(str("profileUrl", "A URI of the user's online profile."), "reference"),
		str("title", "The user's title."), str("userType", "The relationship between the organization and the user."),
		str("preferredLanguage", "The user's preferred written or spoken language."), str("locale", "The user's default location."),
		str("timezone", "The user's time zone."),
		withMatch(typed(str("active", "Whether the user may sign in and use tokens; false deactivates the user and refuses every token at once."), "boolean"),
			map[string]fieldMatch{"": {kind: matchBool, field: store.FieldActive}}),
		func() attribute {
			a := str("password", "Accepted and ignored: SCIM users sign in through SSO.")
			a.Mutability, a.Returned = "writeOnly", "never"
			return a
		}(),
		withMatch(complexAttr("emails", "E-mail addresses; Gatehouse keeps the primary (or work) one.", true, multiSubs("The e-mail address.", "work", "home", "other")...),
			map[string]fieldMatch{
				"": {kind: matchText, field: store.FieldEmail}, "value": {kind: matchText, field: store.FieldEmail},
				"type": {kind: matchConst, constant: "work"}, "primary": {kind: matchConst, constant: "true"},
			}),
		complexAttr("phoneNumbers", "Phone numbers.", true, multiSubs("The phone number.", "work", "home", "mobile", "fax", "pager", "other")...),
		complexAttr("ims", "Instant messaging addresses.", true, multiSubs("The address.")...),
		complexAttr("photos", "URLs of photos.", true, multiSubs("The URL.", "photo", "thumbnail")...),
		complexAttr("addresses", "Physical mailing addresses.", true,
			str("formatted", "The full address."), str("streetAddress", "The street."), str("locality", "The city."),
			str("region", "The state or region."), str("postalCode", "The postal code."), str("country", "The country."),
			str("type", "work, home or other."), typed(str("primary", "Whether this is the primary address."), "boolean")),
		withMatch(readOnly(complexAttr("groups", "The groups the user is a direct member of (read-only: change membership through Groups).", true,
			readOnly(str("value", "The group's id.")), readOnly(typed(str("$ref", "The group's URI."), "reference")),
			readOnly(str("display", "The group's displayName.")), readOnly(str("type", "direct.")))),
			map[string]fieldMatch{"": {kind: matchID, field: store.FieldGroup, prefix: groupPrefix, caseExact: true}, "value": {kind: matchID, field: store.FieldGroup, prefix: groupPrefix, caseExact: true}}),
		complexAttr("entitlements", "Entitlements.", true, multiSubs("The entitlement.")...),
		complexAttr("roles", "Roles (accepted, not stored: Gatehouse rights come from groups).", true, multiSubs("The role.")...),
		complexAttr("x509Certificates", "Certificates.", true, multiSubs("The DER certificate, base64.")...),
	}
	enterpriseAttrs = []attribute{
		str("employeeNumber", "Employee number."), str("costCenter", "Cost center."), str("organization", "Organization."),
		str("division", "Division."), str("department", "Department."),
		complexAttr("manager", "The user's manager (Entra also sends it as a bare id string).", false,
			str("value", "The manager's id."), typed(str("$ref", "The manager's URI."), "reference"), readOnly(str("displayName", "The manager's name."))),
	}
	groupAttrs = []attribute{
		withMatch(func() attribute {
			a := str("displayName", "The group's name, unique in Gatehouse.")
			a.Required, a.Uniqueness = true, "server"
			return a
		}(), map[string]fieldMatch{"": {kind: matchText, field: store.FieldName}}),
		withMatch(complexAttr("members", "The group's direct members (users only; nested groups are not supported).", true,
			func() attribute {
				a := str("value", "The member's id.")
				a.Mutability = "immutable"
				a.CaseExact = true
				return a
			}(),
			readOnly(typed(str("$ref", "The member's URI."), "reference")),
			readOnly(str("display", "The member's userName.")), func() attribute { a := str("type", "User."); a.Mutability = "immutable"; return a }()),
			map[string]fieldMatch{"": {kind: matchID, field: store.FieldMember, prefix: userPrefix, caseExact: true}, "value": {kind: matchID, field: store.FieldMember, prefix: userPrefix, caseExact: true}}),
	}
)

// common attributes every resource has (RFC 7643 §3.1).
var (
	idAttr = func() attribute {
		a := readOnly(str("id", "The resource's unique, stable identifier."))
		a.CaseExact, a.Returned, a.Uniqueness = true, "always", "server"
		return a
	}()
	externalIDAttr = func() attribute {
		a := str("externalId", "The IdP's identifier of the resource.")
		a.CaseExact = true
		return a
	}()
	metaAttr = readOnly(complexAttr("meta", "Resource metadata.", false,
		readOnly(str("resourceType", "The resource type.")), readOnly(typed(str("created", "When the resource was created."), "dateTime")),
		readOnly(typed(str("lastModified", "When the resource last changed."), "dateTime")),
		readOnly(typed(str("location", "The resource's URI."), "reference")), readOnly(str("version", "The weak ETag."))))
)

// resourceType is one SCIM resource type with its schemas.
type resourceType struct {
	Name, Endpoint, Schema, Description string
	Attrs                               []attribute
	Extensions                          map[string][]attribute // URN → attributes
	idPrefix                            string
}

var (
	usersType = &resourceType{Name: "User", Endpoint: "/Users", Schema: schemaUser, Description: "User Account",
		Attrs: userAttrs, Extensions: map[string][]attribute{schemaEnterprise: enterpriseAttrs}, idPrefix: userPrefix}
	groupsType = &resourceType{Name: "Group", Endpoint: "/Groups", Schema: schemaGroup, Description: "Group",
		Attrs: groupAttrs, idPrefix: groupPrefix}
)

// lookup finds an attribute by URN (optional) and name, case-insensitively;
// an unknown one is an invalidFilter error.
func (rt *resourceType) lookup(urn, name string) (attribute, error) {
	if urn == "" || strings.EqualFold(urn, rt.Schema) {
		switch strings.ToLower(name) {
		case "id":
			a := idAttr
			a.match = map[string]fieldMatch{"": {kind: matchID, field: store.FieldID, prefix: rt.idPrefix, caseExact: true}}
			return a, nil
		case "externalid":
			a := externalIDAttr
			a.match = map[string]fieldMatch{"": {kind: matchText, field: store.FieldExternalID, caseExact: true}}
			return a, nil
		case "meta":
			a := metaAttr
			a.match = map[string]fieldMatch{"created": {kind: matchTime, field: store.FieldCreated}, "lastmodified": {kind: matchTime, field: store.FieldUpdated}}
			return a, nil
		}
		for _, a := range rt.Attrs {
			if strings.EqualFold(a.Name, name) {
				return a, nil
			}
		}
		if urn != "" {
			return attribute{}, badFilter("Unknown attribute %s", name)
		}
	}
	for u, attrs := range rt.Extensions {
		if urn == "" || strings.EqualFold(u, urn) {
			for _, a := range attrs {
				if strings.EqualFold(a.Name, name) {
					return a, nil
				}
			}
		}
	}
	if urn != "" {
		name = urn + ":" + name
	}
	return attribute{}, badFilter("Unknown attribute %s of %s", name, rt.Name)
}
