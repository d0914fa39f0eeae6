package ui

// gitlabRoutes are the GitLab provisioning page's routes.
func (u *UI) gitlabRoutes() []route {
	return nil
}
