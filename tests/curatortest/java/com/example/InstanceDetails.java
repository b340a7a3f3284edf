package com.example;

/**
 * The payload POJO of the interop tests and of the examples' bookService: a Jackson bean with one
 * boolean property, "leader". Curator's serializer writes it as
 * {"@class":"com.example.InstanceDetails","leader":true}.
 */
public class InstanceDetails {
    private boolean leader;

    public InstanceDetails() {
    }

    public InstanceDetails(boolean leader) {
        this.leader = leader;
    }

    public boolean isLeader() {
        return leader;
    }

    public void setLeader(boolean leader) {
        this.leader = leader;
    }

    @Override
    public String toString() {
        return "InstanceDetails{leader=" + leader + "}";
    }
}
