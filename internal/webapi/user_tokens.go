package webapi

// userTokenRoutes is filled in by its endpoint group.
func (a *API) userTokenRoutes() []Route { return nil }
