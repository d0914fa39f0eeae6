package webapi

// userRoutes is filled in by its endpoint group.
func (a *API) userRoutes() []Route { return nil }
