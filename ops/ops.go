package ops

import "github.com/spf13/cobra"

// newOpsCmd returns `ddnrs ops`, the operator's commands: the cluster CA
// and node certificates (ca.go), the replica group and its snapshots, the
// registry, and the offline store tools (store.go).
// Each subcommand file adds its constructor here with one AddCommand line.
func newOpsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ops",
		Short: "Operate a DDNRS cluster: certificates, replica groups, snapshots, the registry, offline store tools",
		Long: `ddnrs ops holds the operator's commands.

Nodes of a replica group talk Raft over mutual TLS 1.3: every node needs a
certificate issued by the cluster's CA. 'ddnrs ops ca init' makes the CA,
'ddnrs ops cert issue' a node certificate.`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	cmd.AddCommand(newCACmd())
	cmd.AddCommand(newCertCmd())
	cmd.AddCommand(newGroupCmd())
	cmd.AddCommand(newSnapshotCmd())
	cmd.AddCommand(newRegistryCmd())
	cmd.AddCommand(newStoreCmd(e))
	cmd.AddCommand(newOpsNodeCmd())
	cmd.AddCommand(newOpsZoneCmd())
	return cmd
}
