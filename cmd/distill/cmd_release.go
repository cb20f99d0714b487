package main

import (
	"crypto/ed25519"
	"fmt"

	"github.com/distill-ml/distill/distill/release"
	"github.com/spf13/cobra"
)

func newVerifyCmd(a *app) *cobra.Command {
	var pubkey string
	c := &cobra.Command{
		Use:   "verify [--pubkey KEY.pub] MANIFEST|DIR",
		Short: "Recompute every hash of an artifact against its manifest.json and, with --pubkey, check its signature; fails on any difference",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pubkey == "" {
				m, err := release.Verify(args[0])
				if err != nil {
					return err
				}
				printVerified(a, m, "signature not checked (no --pubkey)")
				return nil
			}
			key, err := release.ReadPublicKey(pubkey)
			if err != nil {
				return err
			}
			m, err := release.VerifySigned(args[0], key)
			if err != nil {
				return err
			}
			printVerified(a, m, "signature: good ("+release.Fingerprint(key)+")")
			return nil
		},
	}
	c.Flags().StringVar(&pubkey, "pubkey", "", "ed25519 public key (KEY.pub of `distill release keygen`, or any OpenSSH ssh-ed25519 key); requires a valid manifest.json.sig by it")
	return c
}

// printVerified is verify's report of a manifest whose hashes all match; sig
// says whether and how its signature was checked.
func printVerified(a *app, m *release.Manifest, sig string) {
	fmt.Fprintf(a.stdout, "ok: %s (%d files, model %s %s, gate approved: %v); %s\n",
		m.ID(), len(m.Files), m.Model.File, m.Model.QuantType, m.Gate.Approved, sig)
}

func newReleaseCmd(a *app) *cobra.Command {
	var storeDir string
	c := &cobra.Command{
		Use:   "release",
		Short: "Sign approved artifacts, promote them into a release store and roll back",
	}
	c.PersistentFlags().StringVar(&storeDir, "store", "release-store", "release store directory")
	c.AddCommand(newReleaseKeygenCmd(a), newReleaseSignCmd(a), newReleaseTrustCmd(a, &storeDir), &cobra.Command{
		Use:   "promote ARTIFACT_DIR",
		Short: "Verify a gate-approved artifact (and its signature, if the store trusts a key) and make it the current release",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return moveCurrent(a, storeDir, "promoted "+args[0], func(s release.Store) (string, error) { return s.Promote(args[0]) })
		},
	}, &cobra.Command{
		Use:   "rollback",
		Short: "Make the previously promoted version current again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return moveCurrent(a, storeDir, "rolled back", release.Store.Rollback)
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "Show the trusted key, the current release and the history",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s := release.Store{Dir: storeDir}
			key, err := s.TrustedKey()
			if err != nil {
				return err
			}
			cur, err := s.Current()
			if err != nil {
				return err
			}
			evs, err := s.History()
			if err != nil {
				return err
			}
			if cur == "" {
				cur = "(none)"
			}
			trusted := "(none: releases are not signature-checked)"
			if key != nil {
				trusted = release.Fingerprint(key)
			}
			fmt.Fprintf(a.stdout, "trusted key: %s\ncurrent: %s\n", trusted, cur)
			for _, e := range evs {
				was := "(first release)"
				if e.From != "" {
					was = "(was " + e.From + ")"
				}
				fmt.Fprintf(a.stdout, "%s %-8s %s %s\n", e.Time.Format("2006-01-02T15:04:05Z"), e.Action, e.ID, was)
			}
			return nil
		},
	})
	return c
}

// moveCurrent makes another release of the store current (move: Promote or
// Rollback), the store's trusted key read first, and reports the new current
// release with how it was checked.
func moveCurrent(a *app, storeDir, done string, move func(release.Store) (string, error)) error {
	s := release.Store{Dir: storeDir}
	key, err := s.TrustedKey()
	if err != nil {
		return err
	}
	id, err := move(s)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s; current release is now %s%s\n", done, id, signatureNote(a, key, storeDir))
	return nil
}

// signatureNote says how the release made current was checked: by the
// store's trusted key, or not at all (a warning on stderr).
func signatureNote(a *app, key ed25519.PublicKey, storeDir string) string {
	if key == nil {
		fmt.Fprintf(a.stderr, "warning: release store %s trusts no key, so the release is treated as unsigned (its signature, if any, was not checked); run `distill release trust --store %s KEY.pub`\n", storeDir, storeDir)
		return ""
	}
	return fmt.Sprintf(" (signature: good, %s)", release.Fingerprint(key))
}

func newReleaseKeygenCmd(a *app) *cobra.Command {
	var out, comment string
	c := &cobra.Command{
		Use:   "keygen --out KEY",
		Short: "Write a new ed25519 release signing key: KEY (OpenSSH private key, mode 0600) and KEY.pub",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("release keygen needs --out")
			}
			pub, err := release.GenerateKey(out, comment)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "wrote %s and %s.pub (%s)\n", out, out, release.Fingerprint(pub))
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "private key file to create; the public key goes to the same path + .pub")
	c.Flags().StringVar(&comment, "comment", "distill-release", "comment stored in the key files")
	return c
}

func newReleaseSignCmd(a *app) *cobra.Command {
	var keyPath string
	c := &cobra.Command{
		Use:   "sign --key KEY ARTIFACT_DIR",
		Short: "Verify an artifact and sign its manifest.json (writes manifest.json.sig, an SSH signature: ssh-keygen -Y verify -n distill-release)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyPath == "" {
				return usagef("release sign needs --key")
			}
			key, err := release.ReadPrivateKey(keyPath)
			if err != nil {
				return err
			}
			m, err := release.Sign(args[0], key)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "signed %s with %s\n", m.ID(), release.Fingerprint(key.Public().(ed25519.PublicKey)))
			return nil
		},
	}
	c.Flags().StringVar(&keyPath, "key", "", "ed25519 private key (distill release keygen, or an unencrypted ssh-keygen -t ed25519 key)")
	return c
}

func newReleaseTrustCmd(a *app, storeDir *string) *cobra.Command {
	var replace bool
	c := &cobra.Command{
		Use:   "trust KEY.pub",
		Short: "Record the public key the store requires: from then on promote and rollback take only releases signed by it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := release.ReadPublicKey(args[0])
			if err != nil {
				return err
			}
			if err := (release.Store{Dir: *storeDir}).Trust(key, replace); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "release store %s trusts %s\n", *storeDir, release.Fingerprint(key))
			return nil
		},
	}
	c.Flags().BoolVar(&replace, "replace", false, "replace a different key the store already trusts")
	return c
}
