package webapi

// templateRoutes is filled in by its endpoint group.
func (a *API) templateRoutes() []Route { return nil }
