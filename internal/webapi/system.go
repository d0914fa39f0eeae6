package webapi

func (a *API) systemRoutes() []Route {
	return []Route{
		{Method: "GET", Path: "api/system/status", Summary: "Server status; clients call it first.", Access: public, Out: obj{"id": "", "version": "", "status": ""}, Handle: a.systemStatus},
		{Method: "GET", Path: "api/system/ping", Summary: "Answers pong.", Access: public, Response: "text", Handle: func(*call) (any, error) { return text("pong"), nil }},
		{Method: "GET", Path: "api/server/version", Summary: "The SonarQube API version Gatehouse implements.", Access: public, Response: "text", Handle: func(*call) (any, error) { return text(Version), nil }},
		{Method: "GET", Path: "api/system/info", Summary: "System information (System.Version, System.Edition), read by the Terraform provider; SonarQube's sections only (Gatehouse's own are in api/gatehouse/info).", Access: admin, Out: obj{"Health": "", "Health Causes": []string{}, "System": obj{"Server ID": "", "Version": "", "Edition": "", "High Availability": true, "External Users and Groups Provisioning": "", "Force authentication": true}}, Handle: a.systemInfo},
		{Method: "GET", Path: "api/gatehouse/info", Summary: "Gatehouse's version, the SonarQube API version it presents, and what the authorization index holds.", Access: admin, Out: obj{"version": "", "sonarQubeApiVersion": "", "statistics": obj{"users": 0, "groups": 0, "projects": 0, "tokens": 0}}, Handle: a.gatehouseInfo},
	}
}

func (a *API) systemStatus(c *call) (any, error) {
	return map[string]string{"id": "gatehouse", "version": Version, "status": "UP"}, nil
}

// systemInfo answers with SonarQube's sections and keys only: strict
// clients decode it into SonarQube's types.
func (a *API) systemInfo(c *call) (any, error) {
	ext, err := a.st.ExternallyManaged(c.ctx)
	if err != nil {
		return nil, err
	}
	provisioning := "Sonarqube" // SonarQube's value for an instance that provisions its own users
	if ext {
		provisioning = "Gatehouse"
	}
	return map[string]any{
		"Health":        "GREEN",
		"Health Causes": []string{},
		"System": map[string]any{
			"Server ID":                              "gatehouse",
			"Version":                                Version,
			"Edition":                                "Community",
			"High Availability":                      false,
			"External Users and Groups Provisioning": provisioning,
			"Force authentication":                   true,
		},
	}, nil
}

// gatehouseInfo is Gatehouse's own information, kept out of api/system/info.
func (a *API) gatehouseInfo(*call) (any, error) {
	st := a.st.Index().Stats()
	return map[string]any{
		"version":             a.opts.GatehouseVersion,
		"sonarQubeApiVersion": Version,
		"statistics":          map[string]any{"users": st.Users, "groups": st.Groups, "projects": st.Projects, "tokens": st.Tokens},
	}, nil
}
