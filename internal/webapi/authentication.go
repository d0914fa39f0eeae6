package webapi

// authenticationRoutes is filled in by its endpoint group.
func (a *API) authenticationRoutes() []Route { return nil }
