package webapi

// orgTokenRoutes is filled in by its endpoint group.
func (a *API) orgTokenRoutes() []Route { return nil }
