package com.example;

// The seed's payload class.
public class InstanceDetails {
    private boolean leader;

    public InstanceDetails() {}

    public InstanceDetails(boolean leader) { this.leader = leader; }

    public boolean isLeader() { return leader; }

    public void setLeader(boolean leader) { this.leader = leader; }
}
