package webapi

// authzRoutes is filled in by its endpoint group.
func (a *API) authzRoutes() []Route { return nil }
