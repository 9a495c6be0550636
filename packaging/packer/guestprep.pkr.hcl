# guestprep in a Packer build: copy the single file to the VM, check, fix, and fail the
# build when blocking findings remain (guestprep exits 3).
#
# Copy the two provisioners into your own build block (after the provisioners that
# install software, before the image is captured), or try this file as it is:
#   packer build -var guestprep_pyz=dist/guestprep.pyz packaging/packer/guestprep.pkr.hcl
# `source "null"` stands in for your builder (qemu, alicloud-ecs, ...), reached over SSH.

variable "guestprep_pyz" {
  type        = string
  default     = "dist/guestprep.pyz"
  description = "guestprep.pyz built by tools/package.sh pyz"
}

variable "guestprep_items" {
  type        = string
  default     = ""
  description = "items to fix besides the safe default ones, e.g. \"qemu-ga,cloudinit\""
}

variable "ssh_host" {
  type    = string
  default = "127.0.0.1"
}

source "null" "vm" {
  communicator = "ssh"
  ssh_host     = var.ssh_host
  ssh_username   = "root"
  ssh_agent_auth = true
}

build {
  sources = ["source.null.vm"]

  provisioner "file" {
    source      = var.guestprep_pyz
    destination = "/tmp/guestprep.pyz"
  }

  provisioner "shell" {
    # As root; the default valid_exit_codes = [0] fails the build on exit 3 (and 1, 4, 5).
    execute_command  = "chmod +x {{ .Path }}; {{ .Vars }} sudo -E sh '{{ .Path }}'"
    environment_vars = ["GUESTPREP_PYZ=/tmp/guestprep.pyz", "GUESTPREP_ITEMS=${var.guestprep_items}"]
    script           = "${path.root}/guestprep-provision.sh"
  }
}
